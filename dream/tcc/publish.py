"""What a config job pushes to TNS, in the order upstream publishes it.

1. every index at the TNS root (routing, domains, wasm modules, repositories);
2. the project object at `branches/<b>/commit/<c>/projects/<pid>`, then each resource again at its
   own resource key, so a reader can fetch one function's config without the whole project (with a
   flattening TNS these land on the same leaves, so the repeat costs little and changes nothing);
3. last, the branch's current commit, so readers only switch once everything above is in place.
"""

from __future__ import annotations

from typing import Any

from dream.tcc import tns_keys
from dream.tcc.compiler import CompiledProject


def publish_plan(
    compiled: CompiledProject, *, branch: str, commit: str, project_id: str
) -> list[tuple[str, Any]]:
    """`(TNS key, value)` pushes, in order."""
    plan: list[tuple[str, Any]] = list(compiled.indexes.items())
    plan.append((tns_keys.project_prefix(branch, commit, project_id), compiled.object))
    for resource in compiled.resources:
        key = tns_keys.resource_key(branch, commit, project_id, resource.kind, resource.id, resource.app_id)
        plan.append((key, resource.config))
    plan.append((tns_keys.current_key(project_id, branch), {"current": commit}))
    return plan
