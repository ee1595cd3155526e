"""Properties of the health gate and rollback over random pushes, crashes and retries: a
stack never ends up running other files than its last good ones or the newest, and files
that were rolled back are never tried again unasked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_compose.core.reconcile.check import CheckSettings
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.reconcile.status import Status
from gitops_compose.core.reconcile.transition import retried
from gitops_compose.core.value import replace
from gitops_compose.shell.check import run_check

from ..core.builders import BRANCH, PARSING, ROOT_NAME
from ..models import ModelHost, ModelRepository

# ("push", crashes): a new version of stack a; ("other", _): only stack b changes;
# ("daemon", _): a daemon starts (a full pass); ("idle", _); ("retry", _): retry a.
Step = tuple[str, bool]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.booleans()),
        st.tuples(st.sampled_from(["other", "daemon", "idle", "retry"]), st.just(False)),
    ),
    min_size=1,
    max_size=10,
)


def version(a: int, b: int) -> dict[str, str]:
    return {
        "a/compose.yaml": f"services:\n  web:\n    image: busybox:{a}\n",
        "b/compose.yaml": f"services:\n  web:\n    image: nginx:{b}\n",
    }


@settings(max_examples=150, deadline=None)
@given(steps)
def test_a_stack_runs_its_last_good_files_or_the_newest_and_no_rollback_is_retried_unasked(
    plan: list[Step],
) -> None:
    repo = ModelRepository({"c0": {}, "c1": version(1, 1)}, "c0", "c1")
    a, b = 1, 1
    host = ModelHost(repo)
    clock = [1000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    gate = CheckSettings(
        BRANCH, ROOT_NAME, health_timeout=60.0, settle=5.0, rollback=True, parsing=PARSING
    )

    def check(state: State) -> State:
        clock[0] += 3600.0  # any backoff is over: only a rollback holds a stack back
        return run_check(repo, host, state, gate, now=lambda: clock[0], sleep=sleep).state

    state = check(State(full_pass_done=True))
    good = repo.stack("c1", "a").fingerprint
    rolled_back: set[str] = set()
    for number, (step, crashes) in enumerate(plan, start=2):
        asked = False
        if step in ("push", "other"):
            a, b = (number, b) if step == "push" else (a, number)
            commit = f"c{number}"
            repo.commits[commit] = version(a, b)
            repo.remote = commit
            # A commit that crashes crashes every stack it starts; b then fails alone.
            if crashes:
                host.crashing_commits.add(commit)
        elif step == "daemon":
            state = replace(state, full_pass_done=False)
        elif step == "retry":
            again = retried(state, "a")
            asked = again.value_or(None) is not None
            state = again.value_or(state)
        newest = repo.stack(repo.remote, "a").fingerprint
        host.done.clear()

        state = check(state)

        record = state.stacks["a"]
        running = host.images["a"].removeprefix("sha256:")
        restarted = any(verb != "rollback" and path == "a" for verb, path in host.done)
        assert running in {good, newest}
        if newest in rolled_back and not asked and step != "push":
            assert not restarted  # a rolled-back fingerprint waits to be asked for
        if record.status is Status.OK:
            good = record.fingerprint or good
            assert running == good
        elif record.rolled_back_from is not None:
            rolled_back.add(record.rolled_back_from)
            assert (running, record.fingerprint) == (good, good)
