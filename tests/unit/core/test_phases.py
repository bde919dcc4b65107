"""The phase transition table, walked edge by edge."""

from __future__ import annotations

import itertools

import pytest

from canary.core import TRANSITIONS, IllegalTransition, Phase, can_transition, check_transition
from canary.models import PHASES

# The edges a user of Flagger expects, written out by hand so a change to the table shows up here.
EXPECTED_EDGES = {
    (Phase.NEW, Phase.INITIALIZING),
    (Phase.INITIALIZING, Phase.INITIALIZED),
    (Phase.INITIALIZING, Phase.FAILED),
    (Phase.INITIALIZED, Phase.PROGRESSING),
    (Phase.INITIALIZED, Phase.WAITING),
    (Phase.INITIALIZED, Phase.PROMOTING),
    (Phase.WAITING, Phase.PROGRESSING),
    (Phase.WAITING, Phase.PROMOTING),
    (Phase.WAITING, Phase.FAILED),
    (Phase.PROGRESSING, Phase.WAITING_PROMOTION),
    (Phase.PROGRESSING, Phase.PROMOTING),
    (Phase.PROGRESSING, Phase.FAILED),
    (Phase.PROGRESSING, Phase.WAITING),
    (Phase.WAITING_PROMOTION, Phase.PROMOTING),
    (Phase.WAITING_PROMOTION, Phase.FAILED),
    (Phase.WAITING_PROMOTION, Phase.PROGRESSING),
    (Phase.WAITING_PROMOTION, Phase.WAITING),
    (Phase.PROMOTING, Phase.FINALISING),
    (Phase.PROMOTING, Phase.PROGRESSING),
    (Phase.PROMOTING, Phase.WAITING),
    (Phase.FINALISING, Phase.SUCCEEDED),
    (Phase.FINALISING, Phase.PROGRESSING),
    (Phase.FINALISING, Phase.WAITING),
    (Phase.FINALISING, Phase.PROMOTING),
    (Phase.SUCCEEDED, Phase.PROGRESSING),
    (Phase.SUCCEEDED, Phase.WAITING),
    (Phase.SUCCEEDED, Phase.PROMOTING),
    (Phase.FAILED, Phase.PROGRESSING),
    (Phase.FAILED, Phase.WAITING),
    (Phase.FAILED, Phase.PROMOTING),
    (Phase.TERMINATING, Phase.TERMINATED),
} | {(p, Phase.TERMINATING) for p in Phase if p not in (Phase.TERMINATING, Phase.TERMINATED)}


@pytest.mark.parametrize(("source", "target"), sorted(EXPECTED_EDGES, key=lambda e: (e[0].value, e[1].value)))
def test_every_allowed_edge_is_allowed(source: Phase, target: Phase) -> None:
    assert can_transition(source, target)
    assert check_transition(source, target) is target


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s, t in itertools.product(Phase, Phase) if s != t and (s, t) not in EXPECTED_EDGES],
)
def test_every_other_edge_is_refused(source: Phase, target: Phase) -> None:
    assert not can_transition(source, target)
    with pytest.raises(IllegalTransition, match="cannot move"):
        check_transition(source, target)


def test_table_matches_the_expected_edges_exactly() -> None:
    table = {(s, t) for s, targets in TRANSITIONS.items() for t in targets}
    assert table == EXPECTED_EDGES


def test_staying_in_a_phase_is_always_allowed() -> None:
    assert all(can_transition(p, p) for p in Phase)


def test_phase_values_are_flaggers_names() -> None:
    assert [p.value for p in Phase if p is not Phase.NEW] == [
        "Initializing",
        "Initialized",
        "Waiting",
        "Progressing",
        "WaitingPromotion",
        "Promoting",
        "Finalising",
        "Succeeded",
        "Failed",
        "Terminating",
        "Terminated",
    ]


def test_the_core_and_the_crd_know_the_same_phases() -> None:
    assert [p.value for p in Phase] == list(PHASES)
