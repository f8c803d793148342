#!/usr/bin/env bash
# Release artifacts for users without a Swift toolchain (README "Deployment"):
#   dist/cloudrec_exporter-<version>.linux-<arch>.tar.gz   binary, README.md, LICENSE, CHANGELOG.md, example config,
#                                                          systemd unit, dashboards, alert rules and runbooks
#   dist/cloudrec-exporter_<version>_<arch>.deb           the same binary as /usr/bin/cloudrec_exporter, a `cloudrec`
#                                                          system user, /etc/cloudrec_exporter/config.yml (conffile)
#                                                          and the systemd unit; Depends derived from the binary
#   dist/sha256sums.txt                                    checksums of both
#   dist/runtime-depends.txt                               the .deb's Depends, one package a line (for the checks)
#
# The binary links the Swift runtime and Foundation statically (--static-swift-stdlib) and is stripped, so it needs
# only a few system libraries; which ones is read from the built binary with dpkg-shlibdeps (and cross-checked with
# ldd + dpkg -S), never written by hand. Three packages are added on purpose, because no library link shows them:
# ca-certificates (the vendor APIs are HTTPS; the TLS stack reads the system trust store), passwd (useradd in the
# postinst) and procps (/bin/kill: the unit's ExecReload, and `kubectl exec ... kill -HUP 1` in the container; a
# minimal Debian root has no kill binary).
#
# Usage: bash scripts/release.sh [--build release|debug] [--out DIR]
#   --build release  (default) `swift build -c release --static-swift-stdlib`, scratch path .build-release. A cold
#                    build of the whole dependency graph takes long (README "Deployment" has the figure).
#   --build debug    CI's quicker path (scripts/check_release.sh): reuses the debug build in .build (which the test
#                    command builds anyway) and relinks its objects with the Swift runtime static, so the packaging
#                    and the clean-root checks are the same; the binary is unoptimised. Artifacts made this way are
#                    marked in DIR/build-mode and must not be published.
# Revision and build date are stamped into the binary (`--version`, cloudrec_exporter_build_info) from git and the
# clock (SOURCE_DATE_EPOCH if set); see Sources/CBuildStamp.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=release
out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --build) mode=${2:?--build needs release or debug}; shift 2 ;;
    --build=*) mode=${1#--build=}; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$mode" in release|debug) ;; *) echo "release.sh: --build must be release or debug (got $mode)" >&2; exit 2 ;; esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v strip >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- stamp and build --------------------------------------------------------------------------------------------
revision=unknown
if git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  revision=$(git -C "$root" rev-parse HEAD)
  # Uncommitted changes to tracked files make the revision a lie: say so.
  [ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || revision="$revision-dirty"
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d-%H:%M:%S)
else
  build_date=$(date -u +%Y%m%d-%H:%M:%S)
fi
export CLOUDREC_BUILD_REVISION=$revision CLOUDREC_BUILD_DATE=$build_date

bin=$work/cloudrec_exporter
if [ "$mode" = release ]; then
  echo "== swift build -c release --static-swift-stdlib (scratch path .build-release)"
  swift build -c release --static-swift-stdlib --product cloudrec_exporter --scratch-path .build-release
  cp "$(swift build -c release --static-swift-stdlib --scratch-path .build-release --show-bin-path)/cloudrec_exporter" "$bin"
else
  echo "== swift build (debug, .build), then relinking its objects with the Swift runtime static"
  swift build --product cloudrec_exporter
  # The link command SwiftPM just used, from its build description; the same with -static-stdlib, into $bin.
  python3 - "$root/.build/debug.yaml" "$bin" <<'EOF'
import json, re, subprocess, sys
description, output = sys.argv[1], sys.argv[2]
args = None
lines = open(description).read().split("\n")
for i, line in enumerate(lines):
    if re.fullmatch(r'\s*"C\.cloudrec_exporter-[^"]*-debug\.exe":', line):
        for follow in lines[i + 1:i + 12]:
            if follow.strip().startswith("args:"):
                args = json.loads(follow.strip()[len("args:"):])
                break
        break
if args is None:
    sys.exit(f"release.sh: no link command for cloudrec_exporter in {description}")
args[args.index("-o") + 1] = output
args = [a for a in args if a not in ("-v", "-static-stdlib")]
args.insert(args.index("-emit-executable"), "-static-stdlib")
# Objects compiled without -static-stdlib autolink the shared Foundation, whose own dependencies the static archives
# need spelled out (a -static-stdlib compile autolinks these four as well).
args += ["-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections"]
subprocess.run(args, check=True)
EOF
fi
unstripped_size=$(stat -c %s "$bin")
strip "$bin"
if ldd "$bin" | grep -q 'libswift\|libFoundation\|lib_Foundation\|libdispatch'; then
  echo "release.sh: the binary still links the Swift runtime dynamically:" >&2; ldd "$bin" >&2; exit 1
fi

version_text=$("$bin" --version)
version=$(sed -n '1s/^cloudrec_exporter, version \([^ ]*\) .*/\1/p' <<<"$version_text")
[ -n "$version" ] || { echo "release.sh: cannot read the version from: $version_text" >&2; exit 1; }
grep -q "revision: $revision)" <<<"$version_text" || { echo "release.sh: revision not stamped: $version_text" >&2; exit 1; }
arch=$(dpkg --print-architecture)
echo "$version_text"

# ---- runtime dependencies, derived from the binary --------------------------------------------------------------
mkdir -p "$work/shlibs/debian"
printf 'Source: cloudrec-exporter\n\nPackage: cloudrec-exporter\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e "$bin" 2>"$work/shlibdeps.err") \
  || { cat "$work/shlibdeps.err" >&2; exit 1; }
shlibs=${shlibs#shlibs:Depends=}
# Cross-check: the packages owning what ldd resolves must be exactly the packages dpkg-shlibdeps named.
owner() {  # dpkg -S knows a library under the path its package ships (merged /usr: /lib or /usr/lib)
  local path=$1 p
  for p in "$path" "${path#/usr}" "/usr$path"; do
    dpkg -S "$p" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return 0
  done
  echo "release.sh: no Debian package owns $path (ldd)" >&2; return 1
}
ldd_packages=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
  owner "$lib" || owner "$(readlink -f "$lib")"; done | sort -u)
shlib_packages=$(tr ',' '\n' <<<"$shlibs" | sed 's/(.*//; s/ //g' | grep . | sort -u)
if [ "$ldd_packages" != "$shlib_packages" ]; then
  echo "release.sh: dpkg-shlibdeps and ldd disagree:" >&2
  diff <(echo "$shlib_packages") <(echo "$ldd_packages") >&2 || true
  exit 1
fi
depends="$shlibs, ca-certificates, passwd, procps"
echo "== derived Depends: $depends"

# ---- tarball ----------------------------------------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/cloudrec_exporter-*.tar.gz "$out"/cloudrec-exporter_*.deb "$out"/sha256sums.txt "$out"/runtime-depends.txt "$out"/build-mode
name=cloudrec_exporter-$version.linux-$arch
tdir=$work/tar/$name
mkdir -p "$tdir/examples" "$tdir/dashboards" "$tdir/alerts"
install -m 0755 "$bin" "$tdir/cloudrec_exporter"
install -m 0644 README.md LICENSE CHANGELOG.md "$tdir/"
install -m 0644 examples/config.example.yml examples/cloudrec_exporter.service examples/prometheus.yml \
  examples/alertmanager.yml "$tdir/examples/"
install -m 0644 dashboards/*.json "$tdir/dashboards/"
install -m 0644 alerts/cloudrec.rules.yml alerts/runbooks.md "$tdir/alerts/"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH:-$(date +%s)}" \
  -C "$work/tar" -czf "$out/$name.tar.gz" "$name"

# ---- Debian package ---------------------------------------------------------------------------------------------
pkg=$work/deb
install -D -m 0755 "$bin" "$pkg/usr/bin/cloudrec_exporter"
install -D -m 0644 packaging/deb/config.yml "$pkg/etc/cloudrec_exporter/config.yml"
# The systemd unit is examples/cloudrec_exporter.service with the package's paths and its `cloudrec` user.
install -d "$pkg/lib/systemd/system"
{
  echo "# systemd unit of the cloudrec-exporter package (examples/cloudrec_exporter.service with the package's paths"
  echo "# and its cloudrec user). Secrets as environment variables: /etc/cloudrec_exporter/env (mode 0600)."
  echo "#   systemctl reload cloudrec_exporter    # re-read /etc/cloudrec_exporter/config.yml (SIGHUP)"
  echo "# State: /var/lib/cloudrec_exporter/data/cloudrec.db. Override flags with \`systemctl edit cloudrec_exporter\`."
  echo
  sed -e '1,/^$/d' -e 's|^DynamicUser=yes$|User=cloudrec\nGroup=cloudrec|' \
      -e 's|/usr/local/bin/cloudrec_exporter|/usr/bin/cloudrec_exporter|g' examples/cloudrec_exporter.service
} >"$pkg/lib/systemd/system/cloudrec_exporter.service"
unit=$pkg/lib/systemd/system/cloudrec_exporter.service
grep -qx 'User=cloudrec' "$unit" && grep -q '^ExecStart=/usr/bin/cloudrec_exporter ' "$unit" \
  && grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" \
  || { echo "release.sh: examples/cloudrec_exporter.service changed shape; adapt the sed above" >&2; exit 1; }
install -D -m 0644 LICENSE "$pkg/usr/share/doc/cloudrec-exporter/copyright"
install -m 0644 README.md "$pkg/usr/share/doc/cloudrec-exporter/README.md"
gzip -9n <CHANGELOG.md >"$pkg/usr/share/doc/cloudrec-exporter/changelog.gz"
install -D -m 0644 examples/config.example.yml "$pkg/usr/share/cloudrec_exporter/config.example.yml"
install -D -m 0644 -t "$pkg/usr/share/cloudrec_exporter/dashboards" dashboards/*.json
install -D -m 0644 -t "$pkg/usr/share/cloudrec_exporter/alerts" alerts/cloudrec.rules.yml alerts/runbooks.md
install -d "$pkg/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$pkg/DEBIAN/"
echo /etc/cloudrec_exporter/config.yml >"$pkg/DEBIAN/conffiles"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sed 's|^\./||' | sort \
  | xargs md5sum >DEBIAN/md5sums)
description="Prometheus exporter for cloud-recording tasks"
[ "$mode" = release ] || description="$description (debug build: not for release)"
cat >"$pkg/DEBIAN/control" <<EOF
Package: cloudrec-exporter
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-cloudrec_exporter maintainers <cloudrec_exporter@users.noreply.github.com>}
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Homepage: https://github.com/cloudrec/cloudrec_exporter
Description: $description
 cloudrec_exporter watches cloud-recording tasks at Agora, ZEGOCLOUD, Tencent
 Cloud TRTC, Alibaba Cloud ApsaraVideo Live and Alibaba Cloud IMS and exports
 their state, files and upload states, and the vendor API's health, on /metrics.
 Grafana dashboards and Prometheus alert rules are in /usr/share/cloudrec_exporter.
EOF
deb=cloudrec-exporter_${version}_$arch.deb
# xz for releases; gzip for the (larger, CI-only) debug binary, where xz alone would take minutes.
compression=xz; [ "$mode" = release ] || compression=gzip
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$out/$deb" >/dev/null

# ---- checksums and notes for the checks -------------------------------------------------------------------------
(cd "$out" && sha256sum "$name.tar.gz" "$deb" >sha256sums.txt)
tr ',' '\n' <<<"$depends" | sed 's/(.*//; s/ //g' | grep . >"$out/runtime-depends.txt"
echo "$mode" >"$out/build-mode"

echo "== artifacts in $out/ ($mode build; binary $(numfmt --to=iec "$unstripped_size")B, stripped $(numfmt --to=iec "$(stat -c %s "$bin")")B; $(( $(date +%s) - started ))s)"
(cd "$out" && ls -l "$name.tar.gz" "$deb" && cat sha256sums.txt)
