"""tmf699ctk: conformance test kit for the TM Forum TMF699 Sales Management API, v4.0.0 and v5.0.0."""

__version__ = "0.1.0"
SPEC_NAME = "TMF699 Sales Management"
SPEC_VERSION = "4.0.0"

__all__ = ["SPEC_NAME", "SPEC_VERSION", "__version__"]
