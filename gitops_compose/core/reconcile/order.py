"""Order between stacks: which stack depends on which, from what their Compose files say.

A stack depends on another when it uses, as ``external: true``, a network or volume that
the other creates (matched by the name Docker gives it), and when its Compose file says so
with ``x-gitops: {depends_on: [reverse_proxy]}``. It starts after the stacks it depends on
and stops before them. A cycle, or a ``depends_on`` naming no stack, is an error for the
stacks involved alone. Only deployed stacks depend on others: the tool's own and ignored
stacks are never acted on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import final

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.compose.resource import Resource
from gitops_compose.core.compose.stack import Stacks
from gitops_compose.core.value import Value


@final
class Order(Value):
    # Stack path -> the stacks it depends on; stacks with none are left out.
    needs: Mapping[str, frozenset[str]]
    # Stacks that cannot be ordered, and why.
    problems: Mapping[str, str]
    # Stack path -> external networks and volumes it uses that no stack of the commit
    # creates: the host must have them already.
    unowned: Mapping[str, frozenset[Resource]]


NO_ORDER = Order({}, {}, {})


def order_of(stacks: Stacks) -> Order:
    # The tool's own and ignored stacks are never acted on: nothing waits for them, though
    # they may create what others use.
    users = [
        (path, stack)
        for path, stack in stacks.valid.items()
        if (stack.uses or stack.depends_on) and stack.role is Role.DEPLOY
    ]
    if not users:
        return NO_ORDER  # most hosts: no stack names another
    used = frozenset[Resource]().union(*(stack.uses for _, stack in users))
    creators: dict[Resource, set[str]] = defaultdict(set)
    for path, stack in stacks.valid.items() if used else ():
        for resource in stack.creates & used:
            creators[resource].add(path)
    known = stacks.valid.keys() | stacks.broken.keys()
    needs: dict[str, frozenset[str]] = {}
    problems: dict[str, str] = {}
    unowned: dict[str, frozenset[Resource]] = {}
    for path, stack in users:
        wanted: set[str] = set()
        missing = set()
        for resource in stack.uses:
            found = creators.get(resource, set()) - {path}
            wanted |= found
            if not found:
                missing.add(resource)
        unknown = sorted(each for each in stack.depends_on if each not in known)
        if unknown:
            problems[path] = (
                f"x-gitops depends_on names {', '.join(unknown)}, which "
                f"{'is no stack' if len(unknown) == 1 else 'are no stacks'} of the repository"
            )
        wanted |= {each for each in stack.depends_on if each in known}
        if wanted:
            needs[path] = frozenset(wanted)
        if missing:
            unowned[path] = frozenset(missing)
    for cycle in _cycles(needs):
        shown = " -> ".join([*cycle, cycle[0]])
        for path in cycle:
            problems.setdefault(path, f"stacks depend on each other in a cycle: {shown}")
    return Order(needs=needs, problems=problems, unowned=unowned)


def _cycles(needs: Mapping[str, frozenset[str]]) -> Iterator[list[str]]:
    """The strongly connected components with a cycle in them (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in sorted(needs):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(needs.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(needs.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in needs.get(node, ()):
                    yield sorted(component)
