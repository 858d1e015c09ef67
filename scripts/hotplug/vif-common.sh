# vif-common.sh: what vif-bridge, vif-route and vif-nat share (sourced, not run): the
# command and environment Xen's hotplug scripts take, messages, and anti-spoofing.
#
# Usage of the scripts:  vif-MODE online|offline   (add and remove mean the same)
# Environment, as libxl sets it (a value missing here is read from the store below
# XENBUS_PATH when xenstore-read is there, as Xen's scripts do):
#   vif          the host interface (the TAP), e.g. vif1.0                  (required)
#   XENBUS_PATH  the backend's store path, e.g. backend/vif/1/0
#   script       the script's own path (libxl passes it; informational)
#   mac          the guest's MAC; anti-spoofing lets only it out of the vif
#   ip           the guest's addresses, space-separated A.B.C.D[/LEN]; anti-spoofing
#                lets only them out (plus a DHCP request); none: no IP filter
#   bridge       vif-bridge: the bridge to join
#   netdev       vif-route/vif-nat: the host's outward interface (xl's gatewaydev;
#                `gatewaydev` is accepted too), default eth0
#   antispoof    "no" turns the anti-spoofing rules off (default yes)
#   DOMUS_RUN_DIR  where vif-nat keeps dnsmasq's pid and lease files (default /run/domus)
#   XENSTORED_PATH the store's socket, for xenstore-read (domusd sets it to Domus's)
# Exit status 0 when done; otherwise 1 and one line on stderr saying what is missing.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

script_name=$(basename "$0")

fatal() {
    echo "$script_name: ${vif:-?}: $*" >&2
    exit 1
}

log() {
    echo "$script_name: ${vif:-?}: $*" >&2
}

have() {
    command -v "$1" >/dev/null 2>&1
}

# KEY's value: the environment's, else the store's ($XENBUS_PATH/KEY), else empty.
store_default() {
    eval "value=\${$1:-}"
    if [ -z "$value" ] && [ -n "${XENBUS_PATH:-}" ] && have xenstore-read; then
        value=$(xenstore-read "$XENBUS_PATH/$1" 2>/dev/null || true)
    fi
    echo "$value"
}

case "${1:-}" in
    online | add) command=online ;;
    offline | remove) command=offline ;;
    *) echo "usage: $script_name online|offline (vif=IFNAME in the environment)" >&2; exit 1 ;;
esac

[ -n "${vif:-}" ] || fatal "no vif= in the environment (the host interface to set up)"
mac=$(store_default mac)
ip=$(store_default ip)
antispoof=${antispoof:-yes}
# shellcheck disable=SC2034  # vif-nat's
run_dir=${DOMUS_RUN_DIR:-/run/domus}
# nftables names: one table per vif, so offline removes exactly what online added.
table="domus-$vif"

need() {  # need TOOL PACKAGE WHAT-FOR
    have "$1" || fatal "$1 is not installed (Debian package $2): it is needed $3"
}

need ip iproute2 "to set up the interface"
if [ "$command" = online ]; then
    ip link show dev "$vif" >/dev/null 2>&1 || fatal "interface $vif does not exist"
fi

# The guest's addresses without their prefix lengths, as an nftables set: "{ a, b }".
ip_set() {
    set_text=""
    for address in $ip; do
        set_text="${set_text:+$set_text, }${address%%/*}"
    done
    echo "{ $set_text }"
}

# Anti-spoofing on a bridged vif (table bridge domus-VIF): frames from the guest must
# carry its MAC (Ethernet and ARP sender), and, when it has addresses, IPv4 packets and
# ARP must carry one of them; a DHCP request (from 0.0.0.0) may pass.
antispoof_bridge_ruleset() {
    echo "table bridge $table {"
    echo "  chain from_guest {"
    echo "    type filter hook prerouting priority -300; policy accept;"
    if [ -n "$mac" ]; then
        echo "    iifname \"$vif\" ether saddr != $mac counter drop"
        echo "    iifname \"$vif\" arp saddr ether != $mac counter drop"
    fi
    if [ -n "$ip" ]; then
        echo "    iifname \"$vif\" ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept"
        echo "    iifname \"$vif\" ether type ip ip saddr != $(ip_set) counter drop"
        echo "    iifname \"$vif\" arp saddr ip != $(ip_set) counter drop"
    fi
    echo "  }"
    echo "}"
}

# Anti-spoofing on a routed or NAT vif (table ip domus-VIF): IPv4 packets from the guest
# must come from one of its addresses (a DHCP request may pass). $1: extra chains.
antispoof_ip_ruleset() {
    echo "table ip $table {"
    if [ "$antispoof" != no ] && [ -n "$ip" ]; then
        echo "  chain from_guest {"
        echo "    type filter hook prerouting priority -300; policy accept;"
        echo "    iifname \"$vif\" ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept"
        echo "    iifname \"$vif\" ip saddr != $(ip_set) counter drop"
        echo "  }"
    fi
    [ -z "${1:-}" ] || echo "$1"
    echo "}"
}

# Loads ruleset $2 after removing any old table of this vif (in this shell, not a
# pipeline's, so that fatal stops the script).
nft_load() {  # nft_load FAMILY RULESET
    need nft nftables "for the vif's anti-spoofing and NAT rules"
    nft delete table "$1" "$table" 2>/dev/null || true
    printf '%s\n' "$2" | nft -f - || fatal "nft refused the $1 rules for $vif"
}

nft_remove() {  # nft_remove FAMILY
    have nft || return 0
    nft delete table "$1" "$table" 2>/dev/null || true
}

sysctl_set() {  # sysctl_set PATH VALUE
    echo "$2" >"/proc/sys/$1" 2>/dev/null || fatal "cannot set $1 to $2"
}

# The first IPv4 address of interface $1 (empty when it has none).
first_ipv4() {
    ip -4 -o addr show dev "$1" 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n 1
}
