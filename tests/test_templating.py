import pytest

from tmf699ctk._templating import TemplateProblem, render


def test_a_whole_expression_keeps_its_native_type() -> None:
    payload = {"name": "x", "note": [{"text": "t"}]}
    assert render("{{ p }}", {"p": payload}) == payload
    assert render(["{{ n + 1 }}"], {"n": 1}) == [2]


def test_mixed_text_is_rendered_as_a_string() -> None:
    assert render({"path": "/salesLead/{{ lead.id }}"}, {"lead": {"id": "7"}}) == {"path": "/salesLead/7"}


def test_keys_are_templated_too() -> None:
    assert render({"{{ a }}": "{{ b }}"}, {"a": "name", "b": "x"}) == {"name": "x"}


def test_an_undefined_name_is_reported_by_name() -> None:
    with pytest.raises(TemplateProblem, match="'lead' is undefined"):
        render("{{ lead.id }}", {})


@pytest.mark.parametrize("template", [
    "{{ x.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.update({'a': 1}) }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{% include '/etc/passwd' %}",
    "{% import '/etc/hostname' as h %}",
    "{{ range(10) | list }}",
])
def test_the_sandbox_refuses_code_execution_and_file_access(template: str) -> None:
    with pytest.raises(TemplateProblem):
        render(template, {"x": {}})


def test_plain_values_pass_through() -> None:
    assert render({"a": 1, "b": True, "c": None}, {}) == {"a": 1, "b": True, "c": None}
