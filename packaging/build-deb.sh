#!/usr/bin/env bash
# Builds the Debian package of Surveyor with dpkg-deb (no cargo-deb to
# install): the stripped binary in /usr/bin, the systemd unit, the default
# configuration in /etc/surveyor (a conffile: an edited copy survives
# upgrades), and maintainer scripts that create the `surveyor` system user.
#
#   packaging/build-deb.sh [--binary target/release/surveyor] [--version X.Y.Z] [--out target/debian] [--fast]
#
# --fast compresses with gzip -1 instead of xz (for tests: seconds, not minutes).
#
# The version defaults to what the binary says (`surveyor version`); the
# package is written to <out>/surveyor_<version>_<arch>.deb and its path printed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
binary="target/release/surveyor"
version=""
out="target/debian"
compression=()
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --fast) compression=(-Zgzip -z1); shift ;;
        *) echo "build-deb.sh: unknown argument '$1' (expected --binary, --version, --out, --fast)" >&2; exit 2 ;;
    esac
done
for tool in dpkg-deb strip; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: '$tool' is needed (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done
[ -x "$binary" ] || { echo "build-deb.sh: no executable at $binary (cargo build --release first, or --binary)" >&2; exit 1; }
if [ -z "$version" ]; then
    version="$("$binary" version | awk '{print $2}')"
fi
case "$version" in
    [0-9]*) ;;
    *) echo "build-deb.sh: version '$version' must start with a digit" >&2; exit 1 ;;
esac
arch="$(dpkg --print-architecture)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/surveyor"
strip --strip-unneeded -o "$stage/usr/bin/surveyor" "$binary"
chmod 0755 "$stage/usr/bin/surveyor"
# The unit of packaging/ runs /usr/local/bin/surveyor (a manual install); the package's binary is in /usr/bin.
sed 's|/usr/local/bin/surveyor|/usr/bin/surveyor|g' "$here/surveyor.service" > "$stage/lib/systemd/system/surveyor.service"
chmod 0644 "$stage/lib/systemd/system/surveyor.service"
install -m 0644 "$here/surveyor.toml" "$stage/etc/surveyor/surveyor.toml"
for script in postinst prerm postrm; do
    install -m 0755 "$here/debian/$script" "$stage/DEBIAN/$script"
done
echo "/etc/surveyor/surveyor.toml" > "$stage/DEBIAN/conffiles"
size_kib="$(du -sk --exclude=DEBIAN "$stage" | awk '{print $1}')"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: surveyor
Version: $version
Architecture: $arch
Maintainer: Surveyor developers <surveyor@users.noreply.github.com>
Section: net
Priority: optional
Installed-Size: $size_kib
Depends: libc6, passwd
Homepage: https://github.com/surveyor-dev/surveyor
Description: self-hosted integration runtime for data-catalog scanning
 Surveyor scans data sources inside a private network (Azure Blob and
 Data Lake Storage, SQL Server, PostgreSQL, Power BI, local folders),
 reads their metadata and schemas with sandboxed WebAssembly connectors,
 and writes Apache Atlas entities that Atlas or Microsoft Purview ingest.
 This package installs the `surveyor` binary, the `surveyor serve`
 systemd unit (not started) and its default configuration.
CONTROL
mkdir -p "$out"
deb="$out/surveyor_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compression[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"
