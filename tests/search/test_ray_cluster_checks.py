"""Where a study may live on a multi-host cluster: the filesystem of a path, read from /proc/mounts text."""

from __future__ import annotations

from pathlib import Path

import pytest

from foretune.errors import ForetuneError
from foretune.search.cluster import check_study_reachable, filesystem_type, is_shared_path

MOUNTS = """\
overlay / overlay rw,relatime 0 0
/dev/sda1 /home ext4 rw,relatime 0 0
nfs.internal:/export /home/shared nfs4 rw,relatime 0 0
s3fs /mnt/bucket fuse.s3fs rw 0 0
/dev/sdb1 /mnt/bucketless ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind", "shared"),
    [
        ("/home/alice/study.journal", "ext4", False),
        ("/home/shared/runs/study.journal", "nfs4", True),
        ("/home/shared", "nfs4", True),
        ("/home/sharedness/x", "ext4", False),  # a longer name, not inside the NFS mount
        ("/mnt/bucket/study.journal", "fuse.s3fs", True),
        ("/mnt/bucketless/study.journal", "ext4", False),
        ("/tmp/study.journal", "overlay", False),
    ],
)
def test_filesystem_of_a_path_is_its_longest_mount_point(path: str, kind: str, shared: bool) -> None:
    assert filesystem_type(Path(path), MOUNTS) == kind
    assert is_shared_path(Path(path), MOUNTS) is shared


def test_a_local_journal_is_refused_only_when_nodes_span_hosts(tmp_path: Path) -> None:
    check_study_reachable(None, tmp_path, hosts={"10.0.0.1"})  # one host: its disk is shared by its nodes
    check_study_reachable("postgresql://u@db/foretune", tmp_path, hosts={"10.0.0.1", "10.0.0.2"})
    with pytest.raises(ForetuneError, match="2 hosts .*10.0.0.2.*postgresql://"):
        check_study_reachable(None, tmp_path, hosts={"10.0.0.1", "10.0.0.2"})
    with pytest.raises(ForetuneError, match=str(tmp_path / "s.journal")):
        check_study_reachable(str(tmp_path / "s.journal"), tmp_path, hosts={"10.0.0.1", "10.0.0.2"})
