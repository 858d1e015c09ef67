#!/usr/bin/env bash
# Fetches and unpacks a Debian source package (`apt-get source`) into DEST, through a
# private apt configuration whose deb-src entries are made from this machine's own
# configured archives (no host name is written anywhere). Idempotent: does nothing when
# DEST/<package>/.fetched names the same version.
#   scripts/fetch-source.sh PACKAGE DEST
set -euo pipefail
package=${1:?usage: fetch-source.sh PACKAGE DEST}
dest=$(realpath -m "${2:?usage: fetch-source.sh PACKAGE DEST}")
[ -f "$dest/$package/.fetched" ] && exit 0
command -v dpkg-source >/dev/null || { echo "fetch-source: dpkg-source missing (apt-get install dpkg-dev)" >&2; exit 1; }

apt_dir="$dest/.apt"
mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
# deb-src twins of every enabled `deb` entry: deb822 .sources files and one-line .list files.
python3 - "$apt_dir/parts" <<'EOF'
import glob, re, sys
out_dir = sys.argv[1]
stanzas, lines = [], []
for path in sorted(glob.glob('/etc/apt/sources.list.d/*.sources')):
    for block in open(path).read().split('\n\n'):
        fields = {}
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith('#') and ':' in line:
                key, value = line.split(':', 1)
                fields[key.strip()] = value.strip()
        if 'deb' not in fields.get('Types', '').split() or fields.get('Enabled', 'yes') == 'no':
            continue
        fields['Types'] = 'deb-src'
        fields.pop('Architectures', None)
        stanzas.append('\n'.join(f'{k}: {v}' for k, v in fields.items()))
for path in ['/etc/apt/sources.list'] + sorted(glob.glob('/etc/apt/sources.list.d/*.list')):
    try:
        text = open(path).read()
    except OSError:
        continue
    for line in text.splitlines():
        if re.match(r'\s*deb\s', line):
            line = re.sub(r'\[[^]]*\]\s*', '', line)  # options such as arch= do not apply
            lines.append(re.sub(r'^\s*deb\s', 'deb-src ', line))
open(f'{out_dir}/domus-src.sources', 'w').write('\n\n'.join(stanzas) + '\n')
open(f'{out_dir}/domus-src.list', 'w').write('\n'.join(lines) + '\n')
EOF
apt_options=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt_dir/parts"
             -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
             -o APT::Sandbox::User=root)
echo "fetch-source: $package (apt-get source)" >&2
apt-get "${apt_options[@]}" update -qq >"$apt_dir/update.log" 2>&1 ||
    { tail -5 "$apt_dir/update.log" >&2; exit 1; }
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${apt_options[@]}" source -qq "$package" >fetch.log 2>&1) ||
    { tail -5 "$work/fetch.log" >&2; exit 1; }
tree=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)
version=$(basename "$(ls "$work"/*.dsc)" .dsc)
rm -rf "${dest:?}/$package"
mv "$tree" "$dest/$package"
echo "$version" >"$dest/$package/.fetched"
echo "fetch-source: $version in $dest/$package" >&2
