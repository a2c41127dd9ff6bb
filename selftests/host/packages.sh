#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Packaging and installation (issue 16):
#
#  - the Debian packages build from a clean copy of the tree
#    (dpkg-buildpackage -us -uc -b; no test suite, no kernel modules);
#  - in a clean Debian 12 root (debootstrap --variant=minbase, from the
#    mirror apt uses here), apt installs qkdn-dkms, qkdkmd and qkdctl with
#    their dependencies; the qkdkmd user, /etc/qkdkmd's owner and mode, the
#    systemd unit's paths and its enablement are checked; qkdkmd --check
#    passes on the packaged example config as user qkdkmd (certificates
#    made here with openssl) and fails on a key that user cannot read;
#    qkdctl --help and qkdtrace --help run;
#  - the DKMS source the package installed builds against the host's 6.1
#    headers (dkms build with private trees).  Not in the root itself:
#    there it would need linux-headers (some 60 MB more to fetch and unpack
#    on every cold run), and qkdn-dkms's postinst skips kernels without
#    headers, as it does on any host;
#  - purging the packages (and the dependencies apt pulled in) leaves the
#    root as it was: same files, same modes and owners (apt and dpkg's
#    bookkeeping, caches and logs aside), no qkdkmd user or group, no
#    statoverride;
#  - "make install DESTDIR=..." puts binaries, man pages, the unit, the
#    docs and the example where they belong, each man page renders without
#    a warning, PREFIX=/usr/local rewrites the unit's paths, and "make
#    uninstall" removes every file.
#
# Needs root (debootstrap, chroot) and the archive; installs the Debian
# packages it needs if they are missing.  The minbase root is cached as a
# tarball in $QKD_PKG_CACHE (default /var/cache/qkdn-test), with the .debs
# apt fetched into it, so that a second run downloads nothing:
# QKD_PKG_REFRESH=1 rebuilds the cache.  QKD_KEEP=1 keeps the work dir.
set -u
. "$(dirname "$0")/lib.sh"

SUITE=bookworm
CACHE=${QKD_PKG_CACHE:-/var/cache/qkdn-test}
NEEDED=(debootstrap dpkg-dev debhelper dh-dkms dkms fakeroot man-db groff
	openssl)

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (debootstrap, chroot)"
	exit 0
fi

work=$(mktemp -d /tmp/qkd-packages.XXXXXX) || exit 1
root=$work/root
cleanup() {
	# /proc is the only mount in the root; never delete through it.
	if mountpoint -q "$root/proc" && ! umount "$root/proc"; then
		echo "# $root/proc still mounted: $work left in place" >&2
	elif [ -n "${QKD_KEEP:-}" ]; then
		echo "# kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}

# The Debian mirror apt uses for $SUITE (deb822 .sources or one-line
# sources.list); QKD_DEBIAN_MIRROR overrides.
debian_mirror() {
	local f
	if [ -n "${QKD_DEBIAN_MIRROR:-}" ]; then
		echo "$QKD_DEBIAN_MIRROR"
		return
	fi
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v suite="$SUITE" '
			function flush() {
				if (uris != "" && (" " suites " ") ~ (" " suite " ")) {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				uris = ""; suites = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			END { if (!found) flush() }' "$f"
	done | head -n1 | grep . && return
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		sed 's/\[[^]]*\]//' |
		awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' |
		grep . && return
	echo http://deb.debian.org/debian
}

# Everything in the root but apt's and dpkg's bookkeeping, caches, logs,
# and the account backups passwd(5) tools keep (/etc/passwd- ...), which
# are the admin's, not a package's: path, type, mode, owner, group.
listing() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys \
		-o -path ./dev -o -path ./run -o -path ./tmp \
		-o -path ./var/lib/apt -o -path ./var/lib/dpkg \
		-o -path ./var/cache/apt -o -path ./var/cache/debconf \
		-o -path ./var/cache/ldconfig -o -path ./var/log \
		-o -path './etc/*-' \) -prune -o -printf '%p %y %m %U %G\n' |
		LC_ALL=C sort)
}

# ---- tools ------------------------------------------------------------------

missing=()
for p in "${NEEDED[@]}"; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	diag "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >"$work/tools.log" 2>&1
	ok $? "build and test tools installed (${missing[*]})"
fi

# ---- the packages, from a clean copy ----------------------------------------

src=$work/src/qkdn
mkdir -p "$src"
if git -C "$QKD_TOP" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked and new files as they are in the work tree, no build output.
	# shellcheck disable=SC2016 # $f is the inner shell's
	(cd "$QKD_TOP" && git ls-files -co --exclude-standard -z |
		xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
		xargs -0 cp -P --parents -t "$src")
else
	(cd "$QKD_TOP" && tar --exclude=build --exclude='*.o' --exclude='*.ko' \
		-cf - .) | tar -C "$src" -xf -
fi
t0=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" \
	timeout 1200 dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
ok $? "dpkg-buildpackage -us -uc -b ($((SECONDS - t0)) s; log build.log)"
debs=()
for f in "$work"/src/qkdn-dkms_*_all.deb "$work"/src/qkdkmd_*_amd64.deb \
	 "$work"/src/qkdctl_*_amd64.deb; do
	[ -f "$f" ] && debs+=("$f")
done
[ ${#debs[@]} = 3 ]; ok $? "three packages:$(printf ' %s' "${debs[@]##*/}")"
! grep -qE 'run_all\.sh|linux-headers|M=/' "$work/build.log"
ok $? "the build ran neither tests nor the kernel module build"

for s in "$src"/debian/qkdkmd.postinst "$src"/debian/qkdkmd.postrm; do
	[ -f "$s" ] && sh -n "$s" &&
		{ ! command -v shellcheck >/dev/null || shellcheck -s sh "$s"; }
	ok $? "maintainer script ${s#"$src"/} is clean sh"
done

# ---- a clean Debian 12 root -------------------------------------------------

mirror=$(debian_mirror)
tarball=$CACHE/$SUITE-minbase-$(echo "$mirror" | md5sum | cut -c1-8).tar.gz
mkdir -p "$CACHE/debs" "$root"
if [ -n "${QKD_PKG_REFRESH:-}" ] || [ ! -s "$tarball" ]; then
	t0=$SECONDS
	timeout 1200 debootstrap --variant=minbase "$SUITE" "$root" "$mirror" \
		>"$work/debootstrap.log" 2>&1 &&
	cp /etc/resolv.conf "$root/etc/resolv.conf" &&
	in_root apt-get update -q >>"$work/debootstrap.log" 2>&1 &&
	in_root apt-get clean &&
	tar -C "$root" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
	ok $? "debootstrap --variant=minbase $SUITE $mirror ($((SECONDS - t0)) s, cached in $tarball)"
else
	tar -C "$root" -xzf "$tarball"
	ok $? "minbase root from $tarball"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root apt-get update -q >"$work/update.log" 2>&1
ok $? "apt-get update in the root"
# dkms's scripts need /proc (/dev/fd, /proc/cpuinfo).
mount -t proc proc "$root/proc"
before=$(listing)
installed() {
	# shellcheck disable=SC2016 # dpkg-query's ${...}
	in_root dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' |
		awk '$1 == "ii" { print $2 }' | LC_ALL=C sort
}
pkgs_before=$(installed)

# ---- install ----------------------------------------------------------------

mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
cp "$CACHE"/debs/*.deb "$root/var/cache/apt/archives/" 2>/dev/null
t0=$SECONDS
in_root apt-get install -y -q --no-install-recommends \
	"${debs[@]/#*\//\/tmp\/debs\/}" >"$work/install.log" 2>&1
ok $? "apt installs the three packages and their dependencies ($((SECONDS - t0)) s; log install.log)"
cp -n "$root"/var/cache/apt/archives/*.deb "$CACHE/debs/" 2>/dev/null
rm -rf "$root/tmp/debs"

pw=$(in_root getent passwd qkdkmd)
uid=$(echo "$pw" | cut -d: -f3)
gid=$(in_root getent group qkdkmd | cut -d: -f3)
[ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$(echo "$pw" | cut -d: -f6)" = /var/lib/qkdkmd ] &&
	[ "$(echo "$pw" | cut -d: -f7)" = /usr/sbin/nologin ] &&
	in_root getent group qkdkmd >/dev/null
ok $? "system user and group qkdkmd ($pw)"
st=$(stat -c '%u:%g %a' "$root/etc/qkdkmd")
[ -n "$gid" ] && [ "$st" = "0:$gid 750" ]
ok $? "/etc/qkdkmd is root:qkdkmd 0750 ($st; qkdkmd is gid $gid)"

# The unit: every program it runs, its user and its man pages exist.
unit=$root/lib/systemd/system/qkdkmd.service
[ -f "$unit" ]; ok $? "qkdkmd.service in /lib/systemd/system"
bad=
while read -r exe; do
	[ -x "$root$exe" ] || bad="$bad $exe"
done < <(sed -n 's/^Exec[A-Za-z]*=[-@+!:]*\([^ ]*\).*/\1/p' "$unit")
for pg in $(sed -n 's/^Documentation=//p' "$unit" | tr '\n' ' '); do
	case $pg in
	man:*)	pg=${pg#man:}; sec=${pg##*(}; sec=${sec%)}; pg=${pg%(*}
		[ -f "$root/usr/share/man/man$sec/$pg.$sec.gz" ] || bad="$bad $pg($sec)" ;;
	*)	bad="$bad $pg" ;;
	esac
done
u=$(sed -n 's/^User=//p' "$unit")
in_root getent passwd "$u" >/dev/null || bad="$bad User=$u"
[ -z "$bad" ]; ok $? "the unit's programs, man pages and user exist${bad:+ (missing:$bad)}"
[ -L "$root/etc/systemd/system/multi-user.target.wants/qkdkmd.service" ]
ok $? "qkdkmd.service enabled"
grep -q '^ConditionPathExists=/etc/qkdkmd/qkdkmd.conf$' "$unit"
ok $? "the unit waits for /etc/qkdkmd/qkdkmd.conf"

in_root dkms status 2>&1 | grep -q '^qkdn/[0-9.]*: added'
ok $? "dkms knows qkdn ($(in_root dkms status 2>&1 | head -n1))"

# The admin's part: certificates and the config.
etc=$root/etc/qkdkmd
QKD_DIR=$work/pki
mkdir -p "$QKD_DIR"
qkd_ca ca && qkd_cert gw1 &&
cp "$QKD_DIR/ca.pem" "$QKD_DIR/gw1.pem" "$QKD_DIR/gw1.key" "$etc/" &&
cp "$root/usr/share/doc/qkdkmd/examples/qkdkmd.conf" "$etc/qkdkmd.conf" &&
chown root:"$gid" "$etc/gw1.key" && chmod 0640 "$etc/gw1.key" &&
chmod 0644 "$etc/ca.pem" "$etc/gw1.pem" "$etc/qkdkmd.conf"
ok $? "certificates for gw1 and the example config in /etc/qkdkmd"
out=$(in_root runuser -u qkdkmd -- qkdkmd -c /etc/qkdkmd/qkdkmd.conf --check 2>&1)
[ "$out" = "/etc/qkdkmd/qkdkmd.conf: ok" ]
ok $? "qkdkmd --check as user qkdkmd on the example config ($out)"
chown root:root "$etc/gw1.key" && chmod 0600 "$etc/gw1.key"
out=$(in_root runuser -u qkdkmd -- qkdkmd -c /etc/qkdkmd/qkdkmd.conf --check 2>&1)
rc=$?
[ $rc = 1 ] && [[ $out == *"gw1.key: Permission denied"* ]]
ok $? "--check fails on a key user qkdkmd cannot read, and says why (exit $rc: $out)"
in_root qkdctl --help 2>&1 | grep -q '^Usage: qkdctl'
ok $? "qkdctl --help"
in_root qkdtrace --help 2>&1 | grep -q '^Usage: qkdtrace'
ok $? "qkdtrace --help"
for m in man5/qkdkmd.conf.5 man8/qkdkmd.8 man8/qkdctl.8 man8/qkdtrace.8; do
	w=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/$m.gz" 2>&1 >/dev/null)
	[ -f "$root/usr/share/man/$m.gz" ] && [ -z "$w" ]
	ok $? "packaged $m renders without warnings${w:+ ($w)}"
done

# The packaged module source builds with DKMS against the host's headers.
kver=$(printf '%s\n' /usr/src/linux-headers-6.1*-amd64 | sort -V | tail -n1)
kver=${kver#/usr/src/linux-headers-}
[ -d "/usr/src/linux-headers-$kver" ] || kver=
if [ -z "$kver" ]; then
	skip "dkms build of the packaged source" "no linux-headers-6.1*-amd64 on the host"
else
	t0=$SECONDS
	mkdir -p "$work/dkms"
	{ dkms add --dkmstree "$work/dkms" --sourcetree "$root/usr/src" qkdn/0.1 &&
	  dkms build --dkmstree "$work/dkms" --sourcetree "$root/usr/src" \
		-k "$kver" qkdn/0.1; } >"$work/dkms.log" 2>&1 &&
	ls "$work"/dkms/qkdn/0.1/"$kver"/*/module/qkd.ko* \
	   "$work"/dkms/qkdn/0.1/"$kver"/*/module/qkd_sim.ko* >/dev/null 2>&1
	ok $? "dkms build -k $kver of /usr/src/qkdn-0.1: qkd.ko, qkd_sim.ko ($((SECONDS - t0)) s)"
fi

# ---- purge ------------------------------------------------------------------

rm -f "$etc"/*	# the admin's files; the package leaves them alone
in_root apt-get purge -y -q qkdn-dkms qkdkmd qkdctl >"$work/purge.log" 2>&1
ok $? "apt-get purge qkdn-dkms qkdkmd qkdctl"
# Then whatever apt pulled in for them (autoremove keeps some, as they
# are suggested by packages of the base system).
pulled=$(LC_ALL=C comm -13 <(echo "$pkgs_before") <(installed))
# shellcheck disable=SC2086 # package names
[ -z "$pulled" ] || in_root apt-get purge -y -q $pulled >>"$work/purge.log" 2>&1
ok $? "apt-get purge of the $(echo "$pulled" | grep -c .) dependencies they pulled in"
# shellcheck disable=SC2016 # dpkg-query's ${...}
left=$(in_root dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 2>/dev/null |
	awk '$1 != "ii" && $1 != "un"' | tr '\n' ' ')
[ -z "$left" ]; ok $? "no package left half-removed${left:+ ($left)}"
! in_root getent passwd qkdkmd >/dev/null && ! in_root getent group qkdkmd >/dev/null
ok $? "purge removed the qkdkmd user and group"
! in_root dpkg-statoverride --list /etc/qkdkmd >/dev/null
ok $? "purge removed the statoverride on /etc/qkdkmd"
after=$(listing)
diff=$(diff <(echo "$before") <(echo "$after"))
[ -z "$diff" ]; ok $? "nothing left behind: the root's files are as before install"
[ -n "$diff" ] && echo "$diff" | head -n 40 | sed 's/^/# /'

# ---- make install -----------------------------------------------------------

inst=$work/inst
make -s -C "$src" install DESTDIR="$inst" >"$work/make-install.log" 2>&1
ok $? "make install DESTDIR=..."
bad=
for f in usr/sbin/qkdkmd usr/bin/qkdctl usr/bin/qkdtrace \
	 usr/share/man/man5/qkdkmd.conf.5 usr/share/man/man8/qkdkmd.8 \
	 usr/share/man/man8/qkdctl.8 usr/share/man/man8/qkdtrace.8 \
	 lib/systemd/system/qkdkmd.service \
	 usr/share/doc/qkdn/examples/qkdkmd.conf usr/share/doc/qkdn/README; do
	[ -s "$inst/$f" ] || bad="$bad $f"
done
for f in usr/sbin/qkdkmd usr/bin/qkdctl usr/bin/qkdtrace; do
	[ -x "$inst/$f" ] || bad="$bad $f(not executable)"
done
[ -z "$bad" ]; ok $? "make install: binaries, man pages, unit, docs in place${bad:+ (missing:$bad)}"
for m in "$inst"/usr/share/man/man*/*; do
	w=$( { MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null
	       groff -man -ww -z "$m" 2>&1; } | head -n3)
	[ -z "$w" ]; ok $? "man -l ${m#"$inst"/} renders without warnings${w:+ ($w)}"
done
grep -q '^ExecStart=/usr/sbin/qkdkmd ' "$inst/lib/systemd/system/qkdkmd.service"
ok $? "the installed unit runs /usr/sbin/qkdkmd"

loc=$work/inst-local
make -s -C "$src" install DESTDIR="$loc" PREFIX=/usr/local >/dev/null 2>&1 &&
	grep -q '^ExecStart=/usr/local/sbin/qkdkmd ' \
		"$loc/usr/local/lib/systemd/system/qkdkmd.service" &&
	[ -x "$loc/usr/local/sbin/qkdkmd" ]
ok $? "PREFIX=/usr/local: binary and unit under /usr/local, ExecStart follows"
make -s -C "$src" uninstall DESTDIR="$loc" PREFIX=/usr/local >/dev/null 2>&1 &&
	[ -z "$(find "$loc" ! -type d)" ]
ok $? "make uninstall removes every file it installed"

tap_done
