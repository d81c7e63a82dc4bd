#!/bin/sh
# The arm64 lane's init in the guest (PID 1, started by the initramfs's switch_root): the mounts a
# booted Debian would have (no systemd here: cgroup2 is mounted by hand, pure v2), tmpfs where the
# runtime and the tests write, the checkout's package importable in the tree's venv, then the
# lane's guest checks and pytest (or a shell). Its status is printed for the host; then power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin  # the initramfs's was /bin
. /etc/arm64-lane.env  # LANE_REPO, LANE_MODE (tests or shell), LANE_ARGS (shell-quoted), LANE_VENV

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
# The root is an overlay: an overlay's upper layer cannot be another overlay, which the runtime's
# container roots and the tests' need, so these are tmpfs.
# A checkout under one of them (CI clones anywhere, /tmp included) would be hidden: it is kept
# reachable at its own path by a bind mount made before and put back after.
keep=
case "$LANE_REPO" in
    /run/*|/tmp/*|/var/lib/boxtrace/*|/var/cache/boxtrace/*|/root/*)
        keep=/mnt/lane-checkout
        mkdir -p "$keep" && mount --bind "$LANE_REPO" "$keep" ;;
esac
for dir in /run /tmp /var/lib/boxtrace /var/cache/boxtrace /root; do
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
chmod 1777 /tmp
if [ -n "$keep" ]; then
    mkdir -p "$LANE_REPO" && mount --bind "$keep" "$LANE_REPO"
fi
hostname arm64-lane
ip link set lo up

# The checkout's package, laid out as pyproject.toml's package-dir installs it (links to the
# sources, as `make venv`'s strict editable install does), first on the venv's path.
src=/opt/boxtrace-src
mkdir -p "$src/boxtrace"
for f in "$LANE_REPO"/boxtrace/*; do ln -s "$f" "$src/boxtrace/"; done
for d in tracer runtime lessons tui; do ln -s "$LANE_REPO/$d" "$src/boxtrace/$d"; done
echo "$src" > "$LANE_VENV/lib/python3.11/site-packages/boxtrace-checkout.pth"
for script in boxtrace:boxtrace.cli boxtrace-runtime:boxtrace.runtime.cli boxtrace-runc:boxtrace.runc_wrapper; do
    printf '#!%s/bin/python\nimport sys\nfrom %s import main\nsys.exit(main())\n' \
        "$LANE_VENV" "${script#*:}" > "$LANE_VENV/bin/${script%%:*}"
    chmod 755 "$LANE_VENV/bin/${script%%:*}"
done

cd "$LANE_REPO" || exit 1
eval "set -- $LANE_ARGS"
if [ "$LANE_MODE" = shell ]; then
    # a session with the serial console as its controlling terminal: job control, ^C
    setsid -c "$LANE_VENV/bin/python" -m tests.vm.arm64.guest --shell <>/dev/ttyAMA0 >&0 2>&1
else
    "$LANE_VENV/bin/python" -m tests.vm.arm64.guest "$@"
fi
status=$?
echo "arm64-lane: guest exit status $status"
sync
busybox poweroff -f
