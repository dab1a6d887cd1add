"""The accept committer's decision with takes (``store.messages.decide_with_takes``): for any batch, the same answers
and final counts as taking each message's windows one by one from ``MemoryCounters``, checking the balance, and
giving the windows back when the balance refuses the message, as the submit service does with in-process counters."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.domain.windows import Rows, Take, Window
from hongyan.policy.counters import MemoryCounters
from hongyan.store.messages import NewMessage, decide_with_takes

NOW_S = 1_800_000_000.0
KEYS = ["sec:a", "day:a", "code:a", "sec:b", "day:b"]

windows = st.lists(
    st.builds(Window, st.sampled_from(KEYS), st.integers(1, 3), st.just(60_000)),
    min_size=0,
    max_size=3,
    unique_by=lambda w: w.key,
)
takes = st.one_of(
    st.none(),
    st.builds(
        Take,
        windows,
        st.one_of(
            st.none(), st.builds(Window, st.sampled_from(["att:a", "att:b"]), st.integers(0, 6), st.just(60_000))
        ),
    ),
)
messages = st.builds(
    lambda account, segments, take: NewMessage("x", account, "m", "c", "t", None, None, segments, None, take),
    st.integers(1, 2),
    st.integers(1, 3),
    takes,
)


def model(batch: list[NewMessage], balances: dict[int, int]):
    counters = MemoryCounters(clock=lambda: NOW_S)
    verdicts, limited, taken = [], {}, defaultdict(int)
    for i, m in enumerate(batch):
        if m.take is not None:
            answer = counters.take_now(m.take.windows, m.take.counted)
            if answer is not None:
                verdicts.append(False)
                limited[i] = answer
                continue
        ok = balances.get(m.account_id, 0) - taken[m.account_id] >= m.segments
        verdicts.append(ok)
        if ok:
            taken[m.account_id] += m.segments
        elif m.take is not None:
            counters._values.update(  # release: MemoryCounters.release without the await
                {
                    k: (v - 1, e)
                    for k, (v, e) in counters._values.items()
                    if k in {w.key for w in m.take.windows} and v > 0
                }
            )
    values = {k: v for k, (v, _) in counters._values.items()}
    return verdicts, {a: n for a, n in taken.items() if n}, limited, values


@settings(max_examples=300, deadline=None)
@given(st.lists(messages, max_size=25), st.integers(0, 12), st.integers(0, 12))
def test_the_batch_decides_as_one_by_one(batch, balance_a, balance_b) -> None:
    balances = {1: balance_a, 2: balance_b}
    rows = Rows(int(NOW_S * 1000))
    verdicts, taken, limited = decide_with_takes(batch, balances, rows)
    expected = model(batch, balances)
    assert (verdicts, {a: n for a, n in taken.items() if n}, limited) == expected[:3]
    written = {k: v[0] for k, v in rows.written.items() if v is not None}
    assert {k: v for k, v in written.items() if v} == {k: v for k, v in expected[3].items() if v}


def test_without_rows_takes_are_ignored() -> None:
    take = Take([Window("day:a", 0, 1000)], None)  # would refuse
    batch = [NewMessage("x", 1, "m", "c", "t", None, None, 1, None, take)]
    assert decide_with_takes(batch, {1: 5}, None) == ([True], {1: 1}, {})
