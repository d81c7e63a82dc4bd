"""bpf(2): commands, program and map types, attach types and flags (include/uapi/linux/bpf.h), and
the layout of the ``union bpf_attr`` members boxtrace decodes (x86_64 offsets; strace's src/bpf.c
prints the same fields in the same order)."""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Literal


def _indexed(names: str, prefix: str) -> Xlat:
    """An enum whose values are 0, 1, 2... in the order the kernel header lists them."""
    return Xlat({name: value for value, name in enumerate(names.split())}, prefix)


BPF_COMMANDS = _indexed(
    """BPF_MAP_CREATE BPF_MAP_LOOKUP_ELEM BPF_MAP_UPDATE_ELEM BPF_MAP_DELETE_ELEM BPF_MAP_GET_NEXT_KEY
    BPF_PROG_LOAD BPF_OBJ_PIN BPF_OBJ_GET BPF_PROG_ATTACH BPF_PROG_DETACH BPF_PROG_TEST_RUN
    BPF_PROG_GET_NEXT_ID BPF_MAP_GET_NEXT_ID BPF_PROG_GET_FD_BY_ID BPF_MAP_GET_FD_BY_ID
    BPF_OBJ_GET_INFO_BY_FD BPF_PROG_QUERY BPF_RAW_TRACEPOINT_OPEN BPF_BTF_LOAD BPF_BTF_GET_FD_BY_ID
    BPF_TASK_FD_QUERY BPF_MAP_LOOKUP_AND_DELETE_ELEM BPF_MAP_FREEZE BPF_BTF_GET_NEXT_ID
    BPF_MAP_LOOKUP_BATCH BPF_MAP_LOOKUP_AND_DELETE_BATCH BPF_MAP_UPDATE_BATCH BPF_MAP_DELETE_BATCH
    BPF_LINK_CREATE BPF_LINK_UPDATE BPF_LINK_GET_FD_BY_ID BPF_LINK_GET_NEXT_ID BPF_ENABLE_STATS
    BPF_ITER_CREATE BPF_LINK_DETACH BPF_PROG_BIND_MAP BPF_TOKEN_CREATE BPF_PROG_STREAM_READ_BY_FD""",
    "BPF_",
)
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
# Commands whose result is a new fd (strace's RVAL_FD), shown with what it refers to.
FD_RESULT_COMMANDS: frozenset[str] = frozenset(
    {
        "BPF_MAP_CREATE",
        "BPF_PROG_LOAD",
        "BPF_OBJ_GET",
        "BPF_PROG_GET_FD_BY_ID",
        "BPF_MAP_GET_FD_BY_ID",
        "BPF_RAW_TRACEPOINT_OPEN",
        "BPF_BTF_LOAD",
        "BPF_BTF_GET_FD_BY_ID",
        "BPF_LINK_CREATE",
        "BPF_LINK_GET_FD_BY_ID",
        "BPF_ENABLE_STATS",
        "BPF_ITER_CREATE",
        "BPF_TOKEN_CREATE",
    }
)

BPF_PROG_TYPES = _indexed(
    """BPF_PROG_TYPE_UNSPEC BPF_PROG_TYPE_SOCKET_FILTER BPF_PROG_TYPE_KPROBE BPF_PROG_TYPE_SCHED_CLS
    BPF_PROG_TYPE_SCHED_ACT BPF_PROG_TYPE_TRACEPOINT BPF_PROG_TYPE_XDP BPF_PROG_TYPE_PERF_EVENT
    BPF_PROG_TYPE_CGROUP_SKB BPF_PROG_TYPE_CGROUP_SOCK BPF_PROG_TYPE_LWT_IN BPF_PROG_TYPE_LWT_OUT
    BPF_PROG_TYPE_LWT_XMIT BPF_PROG_TYPE_SOCK_OPS BPF_PROG_TYPE_SK_SKB BPF_PROG_TYPE_CGROUP_DEVICE
    BPF_PROG_TYPE_SK_MSG BPF_PROG_TYPE_RAW_TRACEPOINT BPF_PROG_TYPE_CGROUP_SOCK_ADDR
    BPF_PROG_TYPE_LWT_SEG6LOCAL BPF_PROG_TYPE_LIRC_MODE2 BPF_PROG_TYPE_SK_REUSEPORT
    BPF_PROG_TYPE_FLOW_DISSECTOR BPF_PROG_TYPE_CGROUP_SYSCTL BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE
    BPF_PROG_TYPE_CGROUP_SOCKOPT BPF_PROG_TYPE_TRACING BPF_PROG_TYPE_STRUCT_OPS BPF_PROG_TYPE_EXT
    BPF_PROG_TYPE_LSM BPF_PROG_TYPE_SK_LOOKUP BPF_PROG_TYPE_SYSCALL BPF_PROG_TYPE_NETFILTER""",
    "BPF_PROG_TYPE_",
)
BPF_PROG_TYPE_CGROUP_DEVICE = 15

BPF_MAP_TYPES = _indexed(
    """BPF_MAP_TYPE_UNSPEC BPF_MAP_TYPE_HASH BPF_MAP_TYPE_ARRAY BPF_MAP_TYPE_PROG_ARRAY
    BPF_MAP_TYPE_PERF_EVENT_ARRAY BPF_MAP_TYPE_PERCPU_HASH BPF_MAP_TYPE_PERCPU_ARRAY
    BPF_MAP_TYPE_STACK_TRACE BPF_MAP_TYPE_CGROUP_ARRAY BPF_MAP_TYPE_LRU_HASH BPF_MAP_TYPE_LRU_PERCPU_HASH
    BPF_MAP_TYPE_LPM_TRIE BPF_MAP_TYPE_ARRAY_OF_MAPS BPF_MAP_TYPE_HASH_OF_MAPS BPF_MAP_TYPE_DEVMAP
    BPF_MAP_TYPE_SOCKMAP BPF_MAP_TYPE_CPUMAP BPF_MAP_TYPE_XSKMAP BPF_MAP_TYPE_SOCKHASH
    BPF_MAP_TYPE_CGROUP_STORAGE BPF_MAP_TYPE_REUSEPORT_SOCKARRAY BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE
    BPF_MAP_TYPE_QUEUE BPF_MAP_TYPE_STACK BPF_MAP_TYPE_SK_STORAGE BPF_MAP_TYPE_DEVMAP_HASH
    BPF_MAP_TYPE_STRUCT_OPS BPF_MAP_TYPE_RINGBUF BPF_MAP_TYPE_INODE_STORAGE BPF_MAP_TYPE_TASK_STORAGE
    BPF_MAP_TYPE_BLOOM_FILTER BPF_MAP_TYPE_USER_RINGBUF BPF_MAP_TYPE_CGRP_STORAGE BPF_MAP_TYPE_ARENA""",
    "BPF_MAP_TYPE_",
)

BPF_ATTACH_TYPES = _indexed(
    """BPF_CGROUP_INET_INGRESS BPF_CGROUP_INET_EGRESS BPF_CGROUP_INET_SOCK_CREATE BPF_CGROUP_SOCK_OPS
    BPF_SK_SKB_STREAM_PARSER BPF_SK_SKB_STREAM_VERDICT BPF_CGROUP_DEVICE BPF_SK_MSG_VERDICT
    BPF_CGROUP_INET4_BIND BPF_CGROUP_INET6_BIND BPF_CGROUP_INET4_CONNECT BPF_CGROUP_INET6_CONNECT
    BPF_CGROUP_INET4_POST_BIND BPF_CGROUP_INET6_POST_BIND BPF_CGROUP_UDP4_SENDMSG BPF_CGROUP_UDP6_SENDMSG
    BPF_LIRC_MODE2 BPF_FLOW_DISSECTOR BPF_CGROUP_SYSCTL BPF_CGROUP_UDP4_RECVMSG BPF_CGROUP_UDP6_RECVMSG
    BPF_CGROUP_GETSOCKOPT BPF_CGROUP_SETSOCKOPT BPF_TRACE_RAW_TP BPF_TRACE_FENTRY BPF_TRACE_FEXIT
    BPF_MODIFY_RETURN BPF_LSM_MAC BPF_TRACE_ITER BPF_CGROUP_INET4_GETPEERNAME BPF_CGROUP_INET6_GETPEERNAME
    BPF_CGROUP_INET4_GETSOCKNAME BPF_CGROUP_INET6_GETSOCKNAME BPF_XDP_DEVMAP BPF_CGROUP_INET_SOCK_RELEASE
    BPF_XDP_CPUMAP BPF_SK_LOOKUP BPF_XDP BPF_SK_SKB_VERDICT BPF_SK_REUSEPORT_SELECT
    BPF_SK_REUSEPORT_SELECT_OR_MIGRATE BPF_PERF_EVENT BPF_TRACE_KPROBE_MULTI BPF_LSM_CGROUP
    BPF_STRUCT_OPS BPF_NETFILTER BPF_TCX_INGRESS BPF_TCX_EGRESS BPF_TRACE_UPROBE_MULTI
    BPF_CGROUP_UNIX_CONNECT BPF_CGROUP_UNIX_SENDMSG BPF_CGROUP_UNIX_RECVMSG BPF_CGROUP_UNIX_GETPEERNAME
    BPF_CGROUP_UNIX_GETSOCKNAME BPF_NETKIT_PRIMARY BPF_NETKIT_PEER BPF_TRACE_KPROBE_SESSION
    BPF_TRACE_UPROBE_SESSION""",
    "BPF_",
)
BPF_CGROUP_DEVICE = 6

# BPF_PROG_ATTACH's attach_flags (and BPF_LINK_CREATE's flags).
BPF_ATTACH_FLAGS = Xlat(
    {
        "BPF_F_ALLOW_OVERRIDE": 1 << 0,
        "BPF_F_ALLOW_MULTI": 1 << 1,
        "BPF_F_REPLACE": 1 << 2,
        "BPF_F_BEFORE": 1 << 3,
        "BPF_F_AFTER": 1 << 4,
        "BPF_F_ID": 1 << 5,
        "BPF_F_LINK": 1 << 13,
    },
    "BPF_F_",
)
BPF_QUERY_FLAGS = Xlat({"BPF_F_QUERY_EFFECTIVE": 1 << 0}, "BPF_F_")
BPF_PROG_FLAGS = Xlat(
    {
        "BPF_F_STRICT_ALIGNMENT": 1 << 0,
        "BPF_F_ANY_ALIGNMENT": 1 << 1,
        "BPF_F_TEST_RND_HI32": 1 << 2,
        "BPF_F_TEST_STATE_FREQ": 1 << 3,
        "BPF_F_SLEEPABLE": 1 << 4,
        "BPF_F_XDP_HAS_FRAGS": 1 << 5,
        "BPF_F_XDP_DEV_BOUND_ONLY": 1 << 6,
        "BPF_F_TEST_REG_INVARIANTS": 1 << 7,
        "BPF_F_TOKEN_FD": 1 << 16,
    },
    "BPF_F_",
)
BPF_MAP_FLAGS = Xlat(
    {
        "BPF_F_NO_PREALLOC": 1 << 0,
        "BPF_F_NO_COMMON_LRU": 1 << 1,
        "BPF_F_NUMA_NODE": 1 << 2,
        "BPF_F_RDONLY": 1 << 3,
        "BPF_F_WRONLY": 1 << 4,
        "BPF_F_STACK_BUILD_ID": 1 << 5,
        "BPF_F_ZERO_SEED": 1 << 6,
        "BPF_F_RDONLY_PROG": 1 << 7,
        "BPF_F_WRONLY_PROG": 1 << 8,
        "BPF_F_CLONE": 1 << 9,
        "BPF_F_MMAPABLE": 1 << 10,
        "BPF_F_PRESERVE_ELEMS": 1 << 11,
        "BPF_F_INNER_MAP": 1 << 12,
        "BPF_F_LINK": 1 << 13,
        "BPF_F_PATH_FD": 1 << 14,
        "BPF_F_VTYPE_BTF_OBJ_FD": 1 << 15,
        "BPF_F_TOKEN_FD": 1 << 16,
        "BPF_F_SEGV_ON_FAULT": 1 << 17,
        "BPF_F_NO_USER_CONV": 1 << 18,
    },
    "BPF_F_",
)
BPF_FILE_MODE_FLAGS = Xlat({"BPF_F_RDONLY": 1 << 3, "BPF_F_WRONLY": 1 << 4}, "BPF_F_")

# How one field of a bpf_attr member is read and shown:
#   u32/u64 numbers, s32 signed, fd (strace -y: 4</sys/fs/cgroup/...>), ptr (an address or NULL),
#   str (a pointer to a NUL-terminated string), name (an inline char[16]), kver (KERNEL_VERSION(a, b, c)),
#   or an enum/flag table named by the remaining kinds.
if TYPE_CHECKING:
    FieldKind = Literal[
        "u32",
        "u64",
        "s32",
        "fd",
        "ptr",
        "str",
        "name",
        "kver",
        "prog_type",
        "map_type",
        "attach_type",
        "attach_flags",
        "query_flags",
        "prog_flags",
        "map_flags",
        "file_flags",
    ]
    AttrField = tuple[str, int, FieldKind, int | None]
# (field, offset, kind, shown when the attr size is above this; None: above the offset, as strace's
# "if (len <= offsetof(...)) break" checks fields added by later kernels).

ENUM_TABLES: dict[str, Xlat] = {
    "prog_type": BPF_PROG_TYPES,
    "map_type": BPF_MAP_TYPES,
    "attach_type": BPF_ATTACH_TYPES,
}
FLAG_TABLES: dict[str, Xlat] = {
    "attach_flags": BPF_ATTACH_FLAGS,
    "query_flags": BPF_QUERY_FLAGS,
    "prog_flags": BPF_PROG_FLAGS,
    "map_flags": BPF_MAP_FLAGS,
    "file_flags": BPF_FILE_MODE_FLAGS,
}
FIELD_SIZE: dict[str, int] = {"u64": 8, "ptr": 8, "str": 8, "name": 16}  # the rest: 4 bytes

_ATTACH: tuple[AttrField, ...] = (
    ("target_fd", 0, "fd", 0),
    ("attach_bpf_fd", 4, "fd", 0),
    ("attach_type", 8, "attach_type", 0),
    ("attach_flags", 12, "attach_flags", 0),
    ("replace_bpf_fd", 16, "fd", None),  # Linux 5.6
    ("relative_fd", 20, "fd", None),  # Linux 6.6
    ("expected_revision", 24, "u64", 20),
)

ATTR_LAYOUTS: dict[int, tuple[AttrField, ...]] = {
    BPF_MAP_CREATE: (
        ("map_type", 0, "map_type", 0),
        ("key_size", 4, "u32", 0),
        ("value_size", 8, "u32", 0),
        ("max_entries", 12, "u32", 0),
        ("map_flags", 16, "map_flags", None),
        ("inner_map_fd", 20, "fd", None),
        ("map_name", 28, "name", None),
        ("map_ifindex", 44, "u32", None),
        ("btf_fd", 48, "fd", None),
        ("btf_key_type_id", 52, "u32", 48),
        ("btf_value_type_id", 56, "u32", 48),
        ("btf_vmlinux_value_type_id", 60, "u32", None),
        ("map_extra", 64, "u64", None),
        ("value_type_btf_obj_fd", 72, "fd", None),
        ("map_token_fd", 76, "fd", None),
    ),
    BPF_PROG_LOAD: (
        ("prog_type", 0, "prog_type", 0),
        ("insn_cnt", 4, "u32", 0),
        ("insns", 8, "ptr", 0),
        ("license", 16, "str", 0),
        ("log_level", 24, "u32", None),
        ("log_size", 28, "u32", 24),
        ("log_buf", 32, "ptr", 24),
        ("kern_version", 40, "kver", None),
        ("prog_flags", 44, "prog_flags", None),
        ("prog_name", 48, "name", None),
        ("prog_ifindex", 64, "u32", None),
        ("expected_attach_type", 68, "attach_type", None),
        ("prog_btf_fd", 72, "fd", None),
        ("func_info_rec_size", 76, "u32", 72),
        ("func_info", 80, "ptr", 72),
        ("func_info_cnt", 88, "u32", 72),
        ("line_info_rec_size", 92, "u32", 72),
        ("line_info", 96, "ptr", 72),
        ("line_info_cnt", 104, "u32", 72),
        ("attach_btf_id", 108, "u32", None),
        ("attach_prog_fd", 112, "fd", None),
        ("core_relo_cnt", 116, "u32", 128),  # printed with the core_relos that came in 5.17
        ("fd_array", 120, "ptr", None),
        ("core_relos", 128, "ptr", None),
        ("core_relo_rec_size", 136, "u32", 128),
        ("log_true_size", 140, "u32", None),  # written by the kernel (6.4); its value at entry
        ("prog_token_fd", 144, "fd", None),
    ),
    BPF_PROG_ATTACH: _ATTACH,
    BPF_PROG_DETACH: _ATTACH,
    BPF_PROG_QUERY: (
        ("target_fd", 0, "fd", 0),
        ("attach_type", 4, "attach_type", 0),
        ("query_flags", 8, "query_flags", 0),
        ("attach_flags", 12, "attach_flags", 0),
        ("prog_ids", 16, "ptr", 0),
        ("prog_cnt", 24, "u32", 0),
        ("prog_attach_flags", 32, "ptr", None),
        ("link_ids", 40, "ptr", None),
        ("link_attach_flags", 48, "ptr", None),
        ("revision", 56, "u64", None),
    ),
    BPF_PROG_GET_FD_BY_ID: (
        ("prog_id", 0, "u32", 0),
        ("next_id", 4, "u32", None),
        ("open_flags", 8, "file_flags", None),
    ),
}
# The members strace prints inside a named sub-struct: bpf(BPF_PROG_QUERY, {query={...}}, 40).
ATTR_WRAPPER: dict[int, str] = {BPF_PROG_QUERY: "query"}
ATTR_MAX = 160  # the largest member decoded above, rounded up
