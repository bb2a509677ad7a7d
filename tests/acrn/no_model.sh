#!/bin/sh
# The HSM model is test-only: the vdm that `make install` puts in bindir has
# none of its code, and refuses --hsm acrn:model as an unknown back-end
# (one line, exit 2).  The test build that has it, vdm-acrn-model, is looked
# at the same way first, so that a check finding nothing means something.
set -u
dir=$(mktemp -d /tmp/vdm-no-model-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# The installed program, where the build tree can install it; else the
# built one (the same file: bin_PROGRAMS are installed as they are built).
vdm=$VDM
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$VDM_BUILDDIR" install-binPROGRAMS DESTDIR="$dir/inst" >"$dir/install.log" 2>&1; then
	vdm=$(find "$dir/inst" -type f -name vdm | head -n 1)
fi
[ -n "$vdm" ] && [ -x "$vdm" ] || { echo "FAIL: no vdm to look at"; exit 1; }
echo "looking at $vdm"

# Symbols of the model's files (acrn_model_*, and model_* of its internal
# header), and a string only the model logs, which survives stripping.
model_syms() { nm "$1" 2>/dev/null | grep -E ' [TtDdBbRr] (acrn_model_|model_)'; }
n=$(model_syms "$VDM_ACRN_MODEL" | wc -l)
[ "$n" -gt 0 ] && ok "the test build has the model ($n symbols)" ||
	bad "nm finds no model symbols even in $VDM_ACRN_MODEL"
grep -q "acrn model:" "$VDM_ACRN_MODEL" && ok "and its log strings" ||
	bad "no 'acrn model:' string in $VDM_ACRN_MODEL"
if model_syms "$vdm" >"$dir/syms"; then
	bad "the installed vdm has model symbols:"
	cat "$dir/syms"
else
	ok "nm of the installed vdm lists no model symbol"
fi
grep -q "acrn model:" "$vdm" && bad "the installed vdm has the model's log strings" ||
	ok "nor any of the model's log strings"
"$vdm" --help 2>&1 | grep -q "model" && bad "vdm --help mentions a model" ||
	ok "vdm --help mentions no model"

# The spellings the tests use, refused before anything starts.
for hsm in "acrn:model:$dir/sock" "acrn:model,vcpus=4:$dir/sock"; do
	"$vdm" --hsm "$hsm" -s 0:0,hostbridge >"$dir/out" 2>&1
	st=$?
	cat "$dir/out"
	if [ "$st" -eq 2 ] && [ "$(wc -l <"$dir/out")" -eq 1 ] &&
		grep -q "unknown back-end" "$dir/out" && [ ! -e "$dir/sock" ]; then
		ok "--hsm $hsm: unknown back-end, one line, exit 2, no socket"
	else
		bad "--hsm $hsm: exit $st"
	fi
done
exit $fail
