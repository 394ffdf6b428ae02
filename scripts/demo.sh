#!/bin/sh
# Bursar end to end on this machine, touching nothing of the real desktop:
# installs what is missing, builds, then starts a private session bus, a
# real gnome-keyring (unlocked with a throwaway password), a local demo
# OpenID provider on 127.0.0.1 and bursard; adds an account with
# bursarctl, signs in through the desktop's default browser (here a
# headless one that clicks "Allow" for you), and prints an access token.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BURSAR_BUILDDIR:-$top/_build}

"$top/scripts/install-deps.sh"
if [ ! -d "$build" ]; then
  meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" >/dev/null

demo=$(mktemp -d /tmp/bursar-demo.XXXXXX)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$demo"
}
trap cleanup EXIT INT TERM

export HOME="$demo/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
export XDG_CACHE_HOME="$HOME/.cache" XDG_RUNTIME_DIR="$demo/run"
export XDG_DATA_DIRS="$XDG_DATA_HOME:/usr/local/share:/usr/share"
export BURSAR_PROVIDERS_DIR="$top/providers"
export BURSAR_LOCALEDIR="$build/po"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME/applications" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

echo "== Starting a private session bus"
dbus-daemon --session --nofork --nopidfile --address="unix:path=$XDG_RUNTIME_DIR/bus" \
  >"$demo/dbus.log" 2>&1 &
pids="$pids $!"
export DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG_RUNTIME_DIR/bus"
i=0; while [ ! -S "$XDG_RUNTIME_DIR/bus" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done

echo "== Starting gnome-keyring (unlocked with a demo password)"
printf 'bursar-demo-password' | gnome-keyring-daemon --foreground --components=secrets --unlock \
  >"$demo/keyring.log" 2>&1 &
pids="$pids $!"
i=0
until gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
      --method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets 2>/dev/null | grep -q true; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "gnome-keyring did not start"; exit 1; }; sleep 0.1
done

echo "== Starting the demo OpenID provider on 127.0.0.1"
mkfifo "$demo/mock.in"
sleep 3600 >"$demo/mock.in" &
pids="$pids $!"
"$build/tests/bursar-mock-server" <"$demo/mock.in" >"$demo/mock.url" 2>"$demo/mock.log" &
pids="$pids $!"
i=0; while [ ! -s "$demo/mock.url" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
issuer=$(head -n1 "$demo/mock.url")
echo "   issuer: $issuer"

echo "== Registering a headless web browser as the desktop's http handler"
cat >"$XDG_DATA_HOME/applications/bursar-demo-browser.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Bursar demo browser
Exec=$build/tests/bursar-test-browser %u
MimeType=x-scheme-handler/http;x-scheme-handler/https;
NoDisplay=true
DESKTOP
cat >"$XDG_CONFIG_HOME/mimeapps.list" <<MIME
[Default Applications]
x-scheme-handler/http=bursar-demo-browser.desktop
x-scheme-handler/https=bursar-demo-browser.desktop
MIME

echo "== Starting bursard"
"$build/daemon/bursard" --verbose >"$demo/bursard.log" 2>&1 &
pids="$pids $!"
i=0
until gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
      --method org.freedesktop.DBus.NameHasOwner org.bursar.Bursar1 2>/dev/null | grep -q true; do
  i=$((i+1)); [ $i -lt 100 ] || { cat "$demo/bursard.log"; exit 1; }; sleep 0.1
done

ctl="$build/cli/bursarctl"
echo "== bursarctl providers"
"$ctl" providers
echo "== bursarctl add oidc --issuer $issuer --client-id test-client --client-secret-file -"
printf 'test-secret-CANARY' | "$ctl" add oidc --issuer "$issuer" --client-id test-client \
  --client-secret-file - --label Demo
echo "== bursarctl list"
"$ctl" list
echo "== bursarctl token oidc_1"
token=$("$ctl" token oidc_1)
echo "$token"
echo "== The same token with the headers for an API request, over gdbus (token shortened):"
gdbus call --session --dest org.bursar.Bursar1 --object-path /org/bursar/Bursar1/accounts/oidc_1 \
  --method org.bursar.Bursar1.Account.GetToken '{}' | sed -E 's/(at-)[A-Za-z0-9_-]+/\1…/g'
echo "Done: a token obtained through the browser, kept in the keyring, served over D-Bus."
