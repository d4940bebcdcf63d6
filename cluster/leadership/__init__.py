"""Who leads the cluster, and the fencing token of its term (issue 8).

`Leadership` is the interface; `InProcessLeadership` is the embedded one-node backend (always
leader, token 1); `EtcdLeadership` elects through etcd (imported lazily: only a node that
uses etcd needs the client library).
"""

from cluster.leadership.base import (
    ChangeKind,
    LeaderInfo,
    Leadership,
    LeadershipChange,
)
from cluster.leadership.inprocess import IN_PROCESS_TOKEN, InProcessLeadership

__all__ = ["ChangeKind", "EtcdConfig", "EtcdLeadership", "IN_PROCESS_TOKEN",
           "InProcessLeadership", "LeaderInfo", "Leadership", "LeadershipChange"]


def __getattr__(name):
    if name in ("EtcdConfig", "EtcdLeadership", "EtcdConfigError"):
        from cluster.leadership import etcd
        return getattr(etcd, name)
    raise AttributeError(name)
