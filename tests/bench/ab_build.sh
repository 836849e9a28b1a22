# ab_build.sh — sourced by ab.sh and abcpu.sh: builds the test binaries of package $pkg at $rev
# ($tmp/before.test) and in the working tree ($tmp/after.test). The working tree's
# *bench*_test.go files are copied to REV, so both sides run the same benchmark code. Sets $root
# and $tmp (removed on exit, with REV's worktree).
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/before" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add -q --detach "$tmp/before" "$rev"
for f in "$root/$pkg"/*bench*_test.go; do
	[[ -e $f ]] && cp "$f" "$tmp/before/$pkg/"
done
(cd "$tmp/before/$pkg" && go test -c -o "$tmp/before.test" .)
(cd "$root/$pkg" && go test -c -o "$tmp/after.test" .)
