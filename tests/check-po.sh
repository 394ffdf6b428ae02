#!/bin/sh
# Every user-facing string is translated: extracts the current strings from
# the sources and fails if any is missing from a catalogue, fuzzy, or has
# a broken format.
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
  -o "$tmp/bursar.pot" $(cat po/POTFILES.in)
echo "1..$(wc -l < po/LINGUAS)"
n=0
for lang in $(cat po/LINGUAS); do
  n=$((n+1))
  msgmerge --no-fuzzy-matching -q "po/$lang.po" "$tmp/bursar.pot" -o "$tmp/$lang.po"
  msgfmt --check -o /dev/null "$tmp/$lang.po"
  missing=$(msgattrib --untranslated --no-obsolete "$tmp/$lang.po" | grep -c '^msgid ' || true)
  fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$tmp/$lang.po" | grep -c '^msgid ' || true)
  # The header is one msgid "" in each listing.
  if [ "$missing" -gt 1 ] || [ "$fuzzy" -gt 1 ]; then
    echo "not ok $n $lang: $((missing > 0 ? missing - 1 : 0)) untranslated, $((fuzzy > 0 ? fuzzy - 1 : 0)) fuzzy"
    msgattrib --untranslated --no-obsolete "$tmp/$lang.po" | grep '^msgid ' | tail -n +2
    exit 1
  fi
  echo "ok $n $lang complete"
done
