"""Who may do what on a class's VMs and buckets: each student their own, TAs every one.

- `roles/compute.instanceAdmin.v1` on the student's VM only (the instance's own IAM policy,
  https://cloud.google.com/compute/docs/access/managing-access-to-resources): start, stop,
  reset, set metadata (an SSH key) and read it. The VMs run without a service account, so no
  `roles/iam.serviceAccountUser` is needed to set their metadata.
- `roles/storage.objectAdmin` on the student's bucket only: read, write and delete objects,
  not change the bucket or its policy (https://cloud.google.com/storage/docs/access-control/
  iam-roles).

labctl owns these two roles on the class's resources: their members are exactly the student
and the TAs; other roles in the policies are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labctl.classroom.roster import Member

VM_ROLE = "roles/compute.instanceAdmin.v1"
BUCKET_ROLE = "roles/storage.objectAdmin"


@dataclass(frozen=True)
class AccessDiff:
    """Members to add to and remove from one role of one resource."""

    role: str
    wanted: frozenset[str]
    grant: frozenset[str] = frozenset()
    revoke: frozenset[str] = frozenset()

    @property
    def changed(self) -> bool:
        return bool(self.grant or self.revoke)

    def apply(self, bindings: dict[str, set[str]]) -> dict[str, set[str]]:
        """An IamUpdate: the role's members made exactly `wanted`, other roles kept."""
        return {**bindings, self.role: set(self.wanted)}


def wanted_members(student: Member, tas: Iterable[Member]) -> frozenset[str]:
    """IAM principals ("user:EMAIL") of a student's resource: the student and every TA."""
    return frozenset({student.member, *(ta.member for ta in tas)})


def diff(
    role: str, wanted: frozenset[str], current: Mapping[str, Iterable[str]] | None
) -> AccessDiff:
    """What changes on a resource whose policy is `current` (None: a new resource)."""
    have = frozenset((current or {}).get(role, ()))
    return AccessDiff(role, wanted, wanted - have, have - wanted)
