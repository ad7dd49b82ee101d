"""The order the job's stages run in: each plain way's fresh processes spread through the races it is set beside.

The report compares the plain way's processes (bench/test_alone.py) with the races of the same device,
dtype and mode at the default size. Run all before the races, as they were until 2026-12-05, each side
sampled other minutes of a machine that drifts: in the 1-thread run of 03:53 on that day, torch's
processes (the job's first two minutes) read 4 to 14% slower than its races in 5 of 6 cases, where
the same cases agreed in the run of 02:52. Spread from before the first of those races to after the
last, the medians of both sides are taken over the same minutes, and drift shows as the processes'
spread instead of as a difference between the two.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def spread(races: Sequence[Hashable | None], alone: Sequence[tuple[Hashable, int]], processes: int) -> list[tuple[str, int]]:
    """The run order, as ("race", index) and ("alone", index) into the two sequences given.

    ``races``: per race in its order, the group its alone processes are compared in (None: none).
    ``alone``: per process, its group and which of the ``processes`` it is (0 first). A group's
    process k goes into the gap k / (processes - 1) of the way through its races (gap 0 before the
    first, the last gap after the last); a gap's processes run in process order, so that every plain way
    of a group has a process in each gap it uses, and those after their group's last race run before those
    of the next group. Processes of a group with no race run first.
    """
    at: dict[Hashable, list[int]] = {}
    for index, group in enumerate(races):
        if group is not None:
            at.setdefault(group, []).append(index)
    # race index (len(races): after the last) -> (0 first in the gap, else 1; process; alone index)
    before: dict[int, list[tuple[int, int, int]]] = {}
    for index, (group, process) in enumerate(alone):
        anchors = at.get(group)
        gap = int(process * len(anchors) / max(processes - 1, 1) + 0.5) if anchors else 0
        after = bool(anchors) and gap == len(anchors)
        slot = anchors[-1] + 1 if after else anchors[gap] if anchors else 0
        before.setdefault(slot, []).append((0 if after or not anchors else 1, process, index))
    order: list[tuple[str, int]] = []
    for slot in range(len(races) + 1):
        order += [("alone", index) for *_, index in sorted(before.get(slot, []))]
        if slot < len(races):
            order.append(("race", slot))
    return order
