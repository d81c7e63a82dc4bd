"""execve and execveat."""

from __future__ import annotations

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables import fcntl as F
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx


def test_execve() -> None:
    mem = FakeMemory()
    env = mem.strings("PATH=/bin", "HOME=/root", "TERM=xterm")
    ctx = make_ctx("execve", mem.str("/bin/sh"), mem.strings("sh", "-c", 'echo "hi"'), env, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "exec"
    assert [a.name for a in d.args] == ["pathname", "argv", "envp"]
    assert d.args[0].text == '"/bin/sh"'
    assert d.args[1].text == '["sh", "-c", "echo \\"hi\\""]'
    assert d.args[2].text == f"{env:#x} /* 3 vars */"
    assert d.detail == {
        "path": "/bin/sh",
        "argv": ["sh", "-c", 'echo "hi"'],
        "argv_truncated": False,
        "env_count": 3,
    }
    assert decode_exit(d, ctx, 0).result_text == "0"
    done = decode_exit(d, ctx, -2)
    assert (done.result_text, done.errno) == ("-1 ENOENT (No such file or directory)", "ENOENT")
    assert decode_exit(d, ctx, -13).errno == "EACCES"


def test_execve_relative_path_and_long_argv() -> None:
    mem = FakeMemory()
    args = [f"a{i}" for i in range(100)]
    ctx = make_ctx("execve", mem.str("./init"), mem.strings(*args), 0, mem=mem, proc=FakeProc(cwd="/run/box"))
    d = decode_entry(ctx)
    assert d is not None
    assert d.detail["resolved"] == {"pathname": "/run/box/init"}
    assert len(d.detail["argv"]) == 64 and d.detail["argv_truncated"] is True
    assert d.args[1].text.endswith('"a63", ...]')
    assert d.args[2].text == "NULL"


def test_execve_null_and_unreadable() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("execve", 0, 0, 0, mem=mem))
    assert d is not None and [a.text for a in d.args] == ["NULL", "NULL", "NULL"]
    assert d.detail["argv"] is None and d.detail["path"] is None
    d = decode_entry(make_ctx("execve", UNMAPPED, UNMAPPED, UNMAPPED, mem=mem))
    assert d is not None and [a.text for a in d.args] == [hex(UNMAPPED)] * 3
    bad = mem.u64s(mem.str("ok"), UNMAPPED, 0)
    d = decode_entry(make_ctx("execve", mem.str("/x"), bad, 0, mem=mem))
    assert d is not None and d.args[1].text == f'["ok", {UNMAPPED:#x}, ...]' and d.detail["argv"] == ["ok"]


def test_execve_argv_ending_at_unmapped_page() -> None:
    mem = FakeMemory()
    # three pointers and the NULL, then unmapped memory: a 16-pointer read fails, one at a time works
    argv = mem.u64s(mem.str("a"), mem.str("b"), mem.str("c"), 0)
    d = decode_entry(make_ctx("execve", mem.str("/x"), argv, 0, mem=mem))
    assert d is not None and d.detail["argv"] == ["a", "b", "c"] and not d.detail["argv_truncated"]


def test_execveat_empty_path() -> None:
    mem = FakeMemory()
    proc = FakeProc({5: "/memfd:runc_cloned:/proc/self/exe (deleted)"})
    ctx = make_ctx(
        "execveat", 5, mem.str(""), mem.strings("runc", "init"), 0, F.AT_EMPTY_PATH | 0x2, mem=mem, proc=proc
    )
    d = decode_entry(ctx)
    assert d is not None and d.category == "exec"
    assert [a.name for a in d.args] == ["dirfd", "pathname", "argv", "envp", "flags"]
    assert d.args[0].text == "5</memfd:runc_cloned:/proc/self/exe (deleted)>"
    assert d.args[4].text == "AT_EMPTY_PATH|0x2"
    assert d.detail["argv"] == ["runc", "init"]
    assert decode_exit(d, ctx, -9).errno == "EBADF"
    d = decode_entry(make_ctx("execveat", F.AT_FDCWD, mem.str("/bin/true"), 0, 0, 0, mem=mem))
    assert d is not None and d.args[0].text == "AT_FDCWD" and d.args[4].text == "0"
