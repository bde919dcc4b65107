"""MetricTemplate rendering: Flagger's variables, and no way to smuggle PromQL in through them."""

from __future__ import annotations

import pytest

from canary.providers.templates import TemplateContext, TemplateError, render_query

CONTEXT = TemplateContext(
    name="podinfo",
    namespace="test",
    target="podinfo",
    service="podinfo-svc",
    ingress="podinfo-ingress",
    interval="1m30s",
    variables={"direction": "inbound", "code": "5.."},
)


def test_every_flagger_variable_is_rendered() -> None:
    query = (
        'x{n="{{ name }}",ns="{{ namespace }}",t="{{ target }}",s="{{ service }}",i="{{ ingress }}",'
        'd="{{ variables.direction }}"}[{{ interval }}]'
    )
    assert render_query(query, CONTEXT) == (
        'x{n="podinfo",ns="test",t="podinfo",s="podinfo-svc",i="podinfo-ingress",d="inbound"}[1m30s]'
    )


@pytest.mark.parametrize("placeholder", ["{{target}}", "{{ target }}", "{{   target\t}}"])
def test_spacing_inside_the_braces_is_free(placeholder: str) -> None:
    assert render_query(f"up{{job='{placeholder}'}}", CONTEXT) == "up{job='podinfo'}"


def test_flagger_linkerd_template_from_the_docs_renders() -> None:
    template = """histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{
        namespace="{{ namespace }}", deployment=~"{{ target }}", direction="{{ variables.direction }}"
      }[{{ interval }}])) by (le))"""
    rendered = render_query(template, CONTEXT)
    assert 'namespace="test"' in rendered
    assert 'deployment=~"podinfo"' in rendered
    assert 'direction="inbound"' in rendered
    assert "[1m30s]" in rendered
    assert "{{" not in rendered and "}}" not in rendered


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [
        ("{{ .name }}", "unknown template variable {{ .name }}"),
        ("{{ args.name }}", "unknown template variable {{ args.name }}"),
        ("{{ Namespace }}", "unknown template variable {{ Namespace }}"),
        ("{{ }}", "empty placeholder"),
        ("{{ variables.missing }}", "templateVariables has no 'missing'"),
    ],
)
def test_unknown_placeholders_are_errors_not_left_in_place(placeholder: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        render_query(f"sum(x{{a='{placeholder}'}})", CONTEXT)


def test_an_unclosed_placeholder_is_an_error() -> None:
    with pytest.raises(TemplateError, match="unclosed"):
        render_query("sum(x{a='{{ target'})", CONTEXT)


def test_an_unset_ingress_is_reported_by_its_field() -> None:
    context = TemplateContext(name="podinfo", namespace="test", target="podinfo")
    with pytest.raises(TemplateError, match=r"spec\.ingressRef is not set"):
        render_query("x{i='{{ ingress }}'}", context)
    assert render_query("x{t='{{ target }}'}", context) == "x{t='podinfo'}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("namespace", 'x"} or vector(1) #'),
        ("namespace", "Test"),
        ("namespace", "a" * 64),
        ("name", 'podinfo"}'),
        ("target", "podinfo{"),
        ("target", "podinfo|.*"),
        ("service", "svc) or vector(1"),
        ("ingress", "in gress"),
        ("interval", "1m] or vector(1) #"),
        ("interval", "1 minute"),
    ],
)
def test_injection_through_a_name_or_the_interval_is_refused(field: str, value: str) -> None:
    values = {
        "name": "podinfo",
        "namespace": "test",
        "target": "podinfo",
        "service": "podinfo",
        "ingress": "podinfo",
        "interval": "1m",
    }
    values[field] = value
    context = TemplateContext(**values)  # type: ignore[arg-type]
    with pytest.raises(TemplateError) as refused:
        render_query(f'sum(rate(x{{a="{{{{ {field} }}}}"}}[1m]))', context)
    assert refused.value.temporary is False
    assert field in refused.value.reason
    assert repr(value) in refused.value.reason


@pytest.mark.parametrize(
    "value",
    ['inbound"} or vector(1) #', "a)", "a{b", "a b", "x,y", "a=b", "", "5.*", "x" * 254, "a\\b", "a'b"],
)
def test_injection_through_template_variables_is_refused(value: str) -> None:
    context = TemplateContext(name="p", namespace="test", target="p", variables={"direction": value})
    with pytest.raises(TemplateError) as refused:
        render_query('x{direction="{{ variables.direction }}"}', context)
    assert "variables.direction" in refused.value.reason
    assert repr(value) in refused.value.reason


@pytest.mark.parametrize("value", ["inbound", "5xx", "my_metric:rate5m", "v1.2.3", "a-b", "0.99"])
def test_ordinary_variable_values_are_accepted(value: str) -> None:
    context = TemplateContext(name="p", namespace="test", target="p", variables={"v": value})
    assert render_query("{{ variables.v }}", context) == value


def test_dotted_object_names_are_valid_targets() -> None:
    context = TemplateContext(name="p", namespace="test", target="api.v2")
    assert render_query("{{ target }}", context) == "api.v2"
