#!/bin/sh
# Installs Cairn as a systemd service on this host (run as root from a checkout):
#   deploy/systemd/install.sh --node-id 1 --address 10.0.0.1 --voters 1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093
# Builds the checkout, copies it to /opt/cairn, creates the cairn user and /var/lib/cairn,
# writes /etc/cairn/{server.properties,cairn.env} (kept if they exist) and the unit, then enables
# and starts it. --root DIR installs under DIR instead of / and skips useradd and systemctl;
# --no-build uses the checkout's dist/ as built (test/integration/deploy.test.ts runs both).
# See deploy/systemd/README.md.
set -eu

node_id=""
address=""
voters=""
root=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --node-id) node_id="$2"; shift 2 ;;
    --address) address="$2"; shift 2 ;;
    --voters) voters="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$node_id" ] && [ -n "$address" ] && [ -n "$voters" ] || { echo "install.sh: --node-id, --address and --voters are required" >&2; exit 2; }

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
command -v node >/dev/null || { echo "install.sh: Node.js 20 is needed (apt-get install nodejs)" >&2; exit 1; }

if [ -z "$root" ] && ! id cairn >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/cairn --shell /usr/sbin/nologin cairn
fi

if [ "$build" = 1 ]; then
  echo "building $src"
  (cd "$src" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null && npx tsc -p tsconfig.json)
fi
[ -f "$src/dist/src/cli/main.js" ] || { echo "install.sh: $src/dist is not built (npm run build)" >&2; exit 1; }

echo "installing to $root/opt/cairn"
mkdir -p "$root/opt/cairn" "$root/etc/cairn" "$root/var/lib/cairn" "$root/etc/systemd/system"
rm -rf "$root/opt/cairn/dist" "$root/opt/cairn/proto"
mkdir -p "$root/opt/cairn/dist"
cp -R "$src/dist/src" "$root/opt/cairn/dist/src"
cp -R "$src/proto" "$root/opt/cairn/proto"
cp "$src/package.json" "$src/package-lock.json" "$root/opt/cairn/"
(cd "$root/opt/cairn" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --ignore-scripts >/dev/null)

if [ ! -e "$root/etc/cairn/server.properties" ]; then
  sed "s|^controller.quorum.voters=.*|controller.quorum.voters=$voters|" "$here/server.properties" > "$root/etc/cairn/server.properties"
fi
if [ ! -e "$root/etc/cairn/cairn.env" ]; then
  sed -e "s|^CAIRN_NODE_ID=.*|CAIRN_NODE_ID=$node_id|" \
      -e "s|^CAIRN_ADVERTISED_LISTENERS=.*|CAIRN_ADVERTISED_LISTENERS=CLIENT://$address:9092,INTERNAL://$address:9093|" \
      "$here/cairn.env" > "$root/etc/cairn/cairn.env"
fi
install -m 0644 "$here/cairn.service" "$root/etc/systemd/system/cairn.service"

if [ -z "$root" ]; then
  chown -R root:cairn /etc/cairn && chmod 0750 /etc/cairn
  chown cairn:cairn /var/lib/cairn && chmod 0750 /var/lib/cairn
  systemctl daemon-reload
  systemctl enable --now cairn.service
  echo "started: systemctl status cairn; journalctl -u cairn -f"
else
  echo "installed under $root (no user, no systemctl)"
fi
