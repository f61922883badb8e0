"""Patch vendored modern-go/reflect2 v1.0.1 for Go >= 1.18 (what reflect2 v1.0.2 did upstream).

Usage: python3 reflect2_go118.py VENDOR_REFLECT2_DIR. Idempotent; exits non-zero when the code is not recognised.
"""
import pathlib
import re
import sys

HITER = """type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    *[]unsafe.Pointer
	oldoverflow *[]unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}"""
NEW_SIG = "func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)"
NEW_CALL = ("func() *hiter { it := new(hiter); mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), it); "
            "return it }()")


def main(root):
    root = pathlib.Path(root)
    link = root / "unsafe_link.go"
    text = link.read_text()
    if NEW_SIG not in text:
        text, n = re.subn(r"func mapiterinit\(rtype unsafe\.Pointer, m unsafe\.Pointer\) \*hiter", NEW_SIG, text)
        if n != 1:
            sys.exit("reflect2 patch: mapiterinit declaration not found")
        text, n = re.subn(r"type hiter struct \{.*?\n\}", lambda _m: HITER, text, flags=re.S)
        if n != 1:
            sys.exit("reflect2 patch: hiter struct not found")
        link.write_text(text)
    umap = root / "unsafe_map.go"
    text = umap.read_text()
    if NEW_CALL not in text:
        text, n = re.subn(r"mapiterinit\(type2\.rtype, \*\(\*unsafe\.Pointer\)\(obj\)\)", lambda _m: NEW_CALL, text)
        if n != 1:
            sys.exit("reflect2 patch: UnsafeIterate call not found")
        umap.write_text(text)
    for path in root.glob("*.go"):
        for line in path.read_text().splitlines():
            if "mapiterinit(" in line and "func mapiterinit" not in line and "it)" not in line:
                sys.exit(f"reflect2 patch: unpatched call in {path.name}: {line.strip()}")
    print("reflect2 patched for Go >= 1.18")


if __name__ == "__main__":
    main(sys.argv[1])
