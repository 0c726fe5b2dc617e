"""Supervision decisions with scripted time: restarts with back-off, stale runners,
blocked runners, and when the watchdog may be pinged."""

from edge.supervision import (
    BLOCKED_RETRY_S, QUICK_DEATH_S, RESTART_FIRST_S, RESTART_MAX_S, START_GRACE_S, Action,
    State, Watch, watchdog_ok,
)


def started(now: float = 0.0) -> Watch:
    watch = Watch("sip", stale_after_s=15.0)
    assert watch.observe(now, False, 0.0, None, None)[0] is Action.START  # the first start
    assert watch.observe(now + 0.5, True, 0.5, None, None) == (Action.NONE, None)
    assert watch.state is State.RUNNING and watch.restarts == 0
    return watch


def test_a_dead_runner_is_restarted_with_growing_back_off() -> None:
    watch = started()
    now = 1.0
    delays = []
    for _ in range(8):  # dies at once after every start
        action, note = watch.observe(now, False, 0.0, None, "RuntimeError: boom")
        assert action is Action.NONE and watch.state is State.DEAD and "boom" in (note or "")
        assert not watchdog_ok([watch])
        due = watch.restart_at
        assert due is not None
        delays.append(due - now)
        assert watch.observe(due - 0.01, False, 0.0, None, "x")[0] is Action.NONE
        action, note = watch.observe(due, False, 0.0, None, None)
        assert action is Action.START and "restart" in (note or "")
        now = due + 0.1
    assert delays[0] == RESTART_FIRST_S
    assert delays == sorted(delays) and delays[-1] == RESTART_MAX_S
    assert watch.restarts == 8 and watch.last_error == "RuntimeError: boom"


def test_a_runner_that_ran_a_while_restarts_at_once_again() -> None:
    watch = started()
    for now in (1.0, 2.0):  # quick deaths: 0.5 s, then 1 s
        watch.observe(now, False, 0.0, None, "e")
        watch.observe(watch.restart_at or 0, False, 0.0, None, None)
    later = 4.0 + QUICK_DEATH_S
    watch.observe(later, True, 1.0, None, None)
    watch.observe(later + 1, False, 0.0, None, "e")  # killed after running a while
    assert watch.restart_at == later + 1 + RESTART_FIRST_S


def test_back_again_is_noted_and_lets_the_watchdog_ping() -> None:
    watch = started()
    watch.observe(1.0, False, 0.0, None, "e")
    watch.observe(1.5, False, 0.0, None, None)
    assert watch.state is State.STARTING and watchdog_ok([watch])
    assert watch.observe(2.0, True, 0.1, None, None) == (Action.NONE, "running again")


def test_a_stale_runner_is_killed_and_withholds_the_watchdog() -> None:
    watch = started()
    action, note = watch.observe(20.0, True, 16.0, None, None)
    assert action is Action.KILL and watch.state is State.STALE and "16 s" in (note or "")
    assert not watchdog_ok([watch, started()])
    assert watch.observe(20.5, True, 16.5, None, None) == (Action.KILL, None)  # noted once
    assert watch.observe(21.0, True, 0.2, None, None) == (Action.NONE, "running again")


def test_a_blocked_runner_is_retried_slowly_and_noted_once() -> None:
    watch = started()
    action, note = watch.observe(1.0, False, 0.0, "SIP port 5060 in use", None)
    assert action is Action.NONE and watch.state is State.BLOCKED and "5060" in (note or "")
    assert watchdog_ok([watch])  # restarting the daemon would fix nothing
    assert watch.observe(1.0 + BLOCKED_RETRY_S - 1, False, 0.0, "x", None)[0] is Action.NONE
    assert watch.observe(1.0 + BLOCKED_RETRY_S, False, 0.0, None, None)[0] is Action.START
    assert watch.observe(BLOCKED_RETRY_S + 2, False, 0.0, "SIP port 5060 in use", None) == (
        Action.NONE, None)
    assert watch.restarts == 1 and watch.quick_deaths == 0


def test_listing_names_state_restarts_and_reason() -> None:
    watch = started()
    watch.observe(3.0, False, 0.0, None, "ValueError: x")
    row = watch.as_dict(1000.0)
    assert row == {"name": "sip", "state": "dead", "restarts": 0,
                   "last_error": "ValueError: x", "since_ts": 1003.0}


def test_a_slow_start_up_is_not_stale_until_its_first_beat_is_long_overdue() -> None:
    """A process starting on a slow box (imports, the model, a full disk's reconcile) has
    START_GRACE_S for its first beat; after that, the runner's own stale time counts."""
    watch = Watch("recorder", stale_after_s=10.0, start_grace_s=START_GRACE_S)
    assert watch.observe(0.0, False, 0.0, None, None)[0] is Action.START
    assert watch.observe(60.0, True, 60.0, None, None)[0] is Action.NONE  # no beat yet
    assert watchdog_ok([watch])
    assert watch.observe(START_GRACE_S + 1, True, START_GRACE_S + 1, None, None)[0] is Action.KILL
    late = Watch("recorder", stale_after_s=10.0, start_grace_s=START_GRACE_S)
    late.observe(0.0, False, 0.0, None, None)
    late.observe(40.0, True, 20.0, None, None)  # it beat at 20 s, then stopped
    assert late.observe(41.0, True, 21.0, None, None)[0] is Action.KILL
    quick = Watch("web", stale_after_s=10.0)  # no grace asked: a hang at start is stale
    quick.observe(0.0, False, 0.0, None, None)
    assert quick.observe(11.0, True, 11.0, None, None)[0] is Action.KILL


def test_the_start_grace_counts_from_the_spawn_not_from_the_tick() -> None:
    """On a busy box (recovery after a power cut, an emulated A53) the runners started
    before it in one tick take seconds to spawn: a process that has not beaten yet keeps
    its start grace, counted from its own spawn (a real child process that prints nothing)."""
    import sys
    import time

    from edge.supervisor import ChildProcess, Supervisor

    class SlowToSpawn:
        last_beat = 0.0

        def start(self) -> None:
            time.sleep(1.5)  # a Popen of Python on a box at 100 %
            self.last_beat = time.monotonic()

        def alive(self) -> bool:
            return self.last_beat > 0

        def beat_age(self, now: float) -> float:
            return now - self.last_beat

        def blocked(self) -> None:
            return None

        def error(self) -> None:
            return None

        def kill(self) -> None:
            pass

    quiet = ChildProcess("detect", [sys.executable, "-c", "import time; time.sleep(30)"])
    supervisor = Supervisor()
    supervisor.add("recorder", SlowToSpawn(), 60.0)
    watch = supervisor.add("detect", quiet, stale_after_s=1.0, start_grace_s=20.0)
    try:
        supervisor.tick()  # both start; the detector's spawn comes 1.5 s into the tick
        time.sleep(1.3)
        supervisor.tick()
        assert watch.state is State.RUNNING and quiet.alive(), watch  # not killed as stale
    finally:
        quiet.stop(5)
        assert quiet.proc is not None and quiet.proc.stdout is not None
        time.sleep(0.2)  # its watcher reads to the end of the pipe
        quiet.proc.stdout.close()
