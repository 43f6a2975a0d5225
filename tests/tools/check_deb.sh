#!/usr/bin/env bash
# Installs whipcode's Debian package in a throw-away Debian chroot (never on
# this machine) and checks what an operator gets: the binaries run, the unit
# verifies, the files have their modes, the key printed once is the key in
# the key file, a reinstall keeps it, and a purge removes what the package
# made; with a second package (a later version), that an upgrade onto it
# keeps the key, the config's edits and the administrator's modes and prints
# nothing to do. Usage: check_deb.sh PACKAGE.deb [LATER.deb]   (as root;
# debootstrap and readelf installed). WHIPCODE_DEB_SUITE (bookworm) and WHIPCODE_DEB_MIRROR
# (http://deb.debian.org/debian) choose the chroot's Debian.
set -euo pipefail

pkg=$(realpath "$1")
later=${2:+$(realpath "$2")}
suite=${WHIPCODE_DEB_SUITE:-bookworm}
mirror=${WHIPCODE_DEB_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/whipcode-deb.XXXXXX)
log=$root.log
failures=0

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*" >&2; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }
# apt in the chroot, with a WHIPCODE_MASTER_KEY left in its environment as an
# operator's shell may have it: the package must never take the key from it.
apt_in_root() {
    in_root env DEBIAN_FRONTEND=noninteractive WHIPCODE_MASTER_KEY=from-the-shell \
        apt-get -y -q --no-install-recommends "$@"
}

cleanup() {
    local status=$?
    set +e
    if [ "$status" != 0 ] && [ -s "$log" ]; then
        echo "--- the last lines of the chroot's log ---" >&2
        tail -n 50 "$log" >&2
    fi
    findmnt -rn -o TARGET | grep "^$root/" | sort -r | xargs -r -n1 umount -l
    rm -rf --one-file-system "$root"
    rm -f "$log" "$root.install"
    exit "$status"
}
trap cleanup EXIT

say "debootstrap $suite (minbase, with systemd for systemd-analyze) into $root"
if ! debootstrap --variant=minbase --include=systemd "$suite" "$root" "$mirror" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    exit 1
fi
mount -t proc proc "$root/proc"
# No service of any package may start in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$pkg" "$root/tmp/whipcode.deb"
[ -z "$later" ] || cp "$later" "$root/tmp/whipcode-later.deb"

say "installing $(basename "$pkg") with apt (its dependencies from $mirror)"
in_root apt-get update -qq >>"$log" 2>&1
if ! apt_in_root install /tmp/whipcode.deb >"$root.install" 2>&1; then
    cat "$root.install" >&2
    rm -f "$root.install"
    exit 1
fi
install_out=$(cat "$root.install")
rm -f "$root.install"

# The version the binary reports is the package's (less the Debian revision).
version=$(dpkg-deb -f "$pkg" Version)
reported=$(in_root whipcode --version)
if [ "$reported" = "whipcode ${version%-*}" ]; then ok "whipcode --version: $reported"; else fail "whipcode --version printed '$reported', the package is $version"; fi

# The runner is linked statically (it runs inside every image, whatever libc
# the image has), and it runs: given no job, it says so.
if [ -x "$root/usr/bin/whipcode-runner" ] && headers=$(readelf -lW "$root/usr/bin/whipcode-runner") \
    && ! grep -q INTERP <<<"$headers" && in_root /usr/bin/whipcode-runner </dev/null 2>&1 | grep -q 'bad job'; then
    ok "whipcode-runner is static and runs"
else
    fail "whipcode-runner is missing, dynamically linked or does not run"
fi

# Modes and owners of what the package and its post-install step made.
unit=$(in_root dpkg -L whipcode | grep '/systemd/system/whipcode.service$' || true)
[ -n "$unit" ] || fail "the package has no whipcode.service"
expect_mode() {
    local path=$1 want=$2 got
    got=$(in_root stat -c '%a %U:%G' "$path" 2>/dev/null || echo missing)
    if [ "$got" = "$want" ]; then ok "$path $got"; else fail "$path is '$got', want '$want'"; fi
}
expect_mode /usr/bin/whipcode "755 root:root"
expect_mode /usr/bin/whipcode-runner "755 root:root"
expect_mode /etc/whipcode "750 root:root"
expect_mode /etc/whipcode/config.toml "640 root:root"
expect_mode /etc/whipcode/.masterkey "600 root:root"
[ -z "$unit" ] || expect_mode "$unit" "644 root:root"

# The unit verifies, and the binary it starts is the one installed.
if [ -n "$unit" ]; then
    # It exits 0 on unknown keys and bad values too: any word on the unit fails.
    if out=$(in_root systemd-analyze verify "$unit" 2>&1) && ! grep -q 'whipcode' <<<"$out"; then
        ok "systemd-analyze verify $unit"
    else
        fail "systemd-analyze verify $unit: $out"
    fi
    exec_start=$(sed -n 's/^ExecStart=//p' "$root$unit")
    if [ "${exec_start%% *}" = /usr/bin/whipcode ] && [[ "$exec_start" == *"--config /etc/whipcode/config.toml"* ]]; then
        ok "ExecStart=$exec_start"
    else
        fail "ExecStart=$exec_start does not start /usr/bin/whipcode with /etc/whipcode/config.toml"
    fi
fi
if grep -q '^/etc/whipcode/config.toml$' <(in_root dpkg-query --showformat='${Conffiles}\n' --show whipcode | awk '{print $1}'); then
    ok "/etc/whipcode/config.toml is a conffile"
else
    fail "/etc/whipcode/config.toml is not a conffile (an upgrade would overwrite local edits)"
fi

# The post-install step printed one key, the key the key file holds: the
# same key with the file's salt hashes to the file's first line.
printed=$(grep -xE '[0-9a-f]{64}' <<<"$install_out" || true)
if [ "$(grep -c . <<<"$printed")" != 1 ]; then
    fail "the post-install step printed $(grep -c . <<<"$printed") keys, want 1"
else
    salt=$(sed -n 2p "$root/etc/whipcode/.masterkey")
    in_root env WHIPCODE_MASTER_KEY="$printed" whipcode --gen-key -k /tmp/check.key --salt "$salt"
    if [ "$(sed -n 1p "$root/tmp/check.key")" = "$(sed -n 1p "$root/etc/whipcode/.masterkey")" ]; then
        ok "the printed key is the key in /etc/whipcode/.masterkey"
    else
        fail "the printed key does not match /etc/whipcode/.masterkey"
    fi
fi
if grep -qF -- '--build-images' <<<"$install_out"; then ok "the post-install step says how to build the images"; else fail "the post-install step does not mention --build-images"; fi

# The packaged config names the key by an absolute path: whipcode started in
# / (where chroot starts it) with it finds /etc/whipcode/.masterkey (here:
# refuses to replace it).
out=$(in_root whipcode --config /etc/whipcode/config.toml --gen-key 2>&1 </dev/null || true)
if grep -qF '/etc/whipcode/.masterkey' <<<"$out"; then ok "the packaged config's key is /etc/whipcode/.masterkey"; else fail "the packaged config's key is not /etc/whipcode/.masterkey: $out"; fi

# Podman's id range for per-container user namespaces was added, once.
ranges() { { grep -c '^containers:' "$root/etc/subuid" "$root/etc/subgid" || true; } | cut -d: -f2 | tr '\n' ' '; }
if [ "$(ranges)" = "1 1 " ]; then ok "one containers id range in /etc/subuid and /etc/subgid"; else fail "containers id ranges in /etc/subuid, /etc/subgid: $(ranges), want 1 1"; fi

# A reinstall keeps the key (and prints none), the administrator's edit of
# the config and the id ranges as they were.
echo '# an edit of the administrator' >>"$root/etc/whipcode/config.toml"
before=$(sha256sum <"$root/etc/whipcode/.masterkey")
if ! again=$(in_root dpkg -i /tmp/whipcode.deb 2>&1); then
    echo "$again" >&2
    exit 1
fi
if [ "$(sha256sum <"$root/etc/whipcode/.masterkey")" = "$before" ] && ! grep -qxE '[0-9a-f]{64}' <<<"$again"; then
    ok "a reinstall keeps the key and prints none"
else
    fail "a reinstall replaced or printed the key"
fi
if grep -qx '# an edit of the administrator' "$root/etc/whipcode/config.toml" && [ ! -e "$root/etc/whipcode/config.toml.dpkg-dist" ]; then
    ok "a reinstall keeps an edited config"
else
    fail "a reinstall replaced the edited config"
fi
[ "$(ranges)" = "1 1 " ] || fail "after a reinstall the containers id ranges are $(ranges), want 1 1"

# An upgrade to a later version keeps the key, the edit and a mode the
# administrator chose, and prints no key and no first-install steps.
if [ -n "$later" ]; then
    chmod 0700 "$root/etc/whipcode"
    if ! upgrade=$(apt_in_root install /tmp/whipcode-later.deb 2>&1); then
        echo "$upgrade" >&2
        exit 1
    fi
    now=$(in_root dpkg-query --showformat='${Version}' --show whipcode)
    if [ "$now" = "$(dpkg-deb -f "$later" Version)" ] && [ "$now" != "$version" ]; then ok "upgraded $version -> $now"; else fail "the upgrade left version $now"; fi
    if [ "$(sha256sum <"$root/etc/whipcode/.masterkey")" = "$before" ] \
        && grep -qx '# an edit of the administrator' "$root/etc/whipcode/config.toml" \
        && [ "$(stat -c %a "$root/etc/whipcode")" = 700 ]; then
        ok "an upgrade keeps the key, the edited config and the directory's mode"
    else
        fail "an upgrade changed the key, the edited config or the directory's mode"
    fi
    if ! grep -qxE '[0-9a-f]{64}' <<<"$upgrade" && ! grep -qF -- '--build-images' <<<"$upgrade"; then
        ok "an upgrade prints no key and no first-install steps"
    else
        fail "an upgrade printed a key or the first-install steps"
    fi
    [ "$(ranges)" = "1 1 " ] || fail "after an upgrade the containers id ranges are $(ranges), want 1 1"
fi

# A remove keeps the configuration and the key; a purge then removes the
# binaries, the configuration, the key and the id ranges, and nothing else
# of /etc/subuid and /etc/subgid.
echo 'someone:100000:65536' | tee -a "$root/etc/subuid" >>"$root/etc/subgid"
apt_in_root remove whipcode >>"$log" 2>&1
if [ ! -e "$root/usr/bin/whipcode" ] && [ -f "$root/etc/whipcode/.masterkey" ] && [ -f "$root/etc/whipcode/config.toml" ]; then
    ok "a remove takes the binaries and keeps the configuration and the key"
else
    fail "a remove did not take the binaries or did not keep the configuration and the key"
fi
apt_in_root purge whipcode >>"$log" 2>&1
left=()
for path in /usr/bin/whipcode /usr/bin/whipcode-runner /etc/whipcode /var/lib/whipcode "$unit"; do
    [ ! -e "$root$path" ] || left+=("$path")
done
[ "$(ranges)" = "0 0 " ] || left+=("containers ranges: $(ranges)")
grep -qx 'someone:100000:65536' "$root/etc/subuid" && grep -qx 'someone:100000:65536' "$root/etc/subgid" \
    || left+=("(not left: another entry of /etc/subuid or /etc/subgid was removed)")
if [ ${#left[@]} -eq 0 ]; then ok "a purge removes what the package made"; else fail "left after a purge: ${left[*]}"; fi

if [ "$failures" -gt 0 ]; then
    echo "$failures package check(s) failed" >&2
    exit 1
fi
say "the package installs, runs and purges cleanly in a $suite chroot"
