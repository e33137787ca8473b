#!/usr/bin/env python3
"""Extracts Kubernetes' protobuf schema from a kubectl binary.

orc's API server decodes the protobuf bodies kubectl and client-go send
(03-apiserver/server/src/protobuf/). Field numbers mean nothing without the
messages' definitions, and kubectl carries them: Go's protobuf runtime
registers every generated.proto it links as a gzipped FileDescriptorProto
(the `fileDescriptor_...` byte slices of the generated.pb.go files). This
script finds those gzip streams, keeps the files orc needs and writes them
as one FileDescriptorSet, the format `protoc --descriptor_set_out` writes
and `protoc --descriptor_set_in` reads.

    scripts/k8s-descriptors.py                     # the v1.32 kubectl, default output
    scripts/k8s-descriptors.py KUBECTL -o OUT.fds

What goes in, in dependency order:
- every GA API group version `k8s.io/api/<group>/v<N>/generated.proto`
  (more than orc serves today, so a new resource needs no new extraction);
- the apimachinery files they import (meta/v1, runtime, resource, intstr...);
- `google/protobuf/descriptor.proto`, found raw (not gzipped) in the binary,
  and a stub `github.com/gogo/protobuf/gogoproto/gogo.proto` declaring the
  gogoproto options the Kubernetes files use. kubectl does not link gogo.proto,
  but every Kubernetes file imports it, and its field options are how the
  descriptors say whether a Go field is a pointer (`nullable`). With both
  files present the set is complete: protoc reads it as it is
  (`protoc --descriptor_set_in=k8s-v1.32.fds --encode=k8s.io.api.core.v1.Pod ...`)
  and prints the options by name when it decodes the set itself.

Two facts orc needs are not in any descriptor, only in Go's struct tags:
which embedded structs are `json:",inline"`, and which fields' protobuf
names differ from their JSON names. orc lists them by hand (INLINE and
JSON_NAMES in 03-apiserver/server/src/protobuf/schema.rs); this script reads the
struct tags kubectl keeps for reflection and prints what they say, so a
new version's changes show up next to those lists.

Python 3 standard library only; the output depends only on the binary, so
running it twice on the same kubectl gives the same bytes.
"""

import argparse
import hashlib
import re
import sys
import zlib
from pathlib import Path

DEFAULT_KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "03-apiserver/server/src/protobuf/k8s-v1.32.fds"

# A gzip member header as Go's compress/gzip writes it (no name, no mtime).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
GA_API = re.compile(r"k8s\.io/api/[a-z0-9]+/v[0-9]+/generated\.proto")
DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto"
GOGO_PROTO = "github.com/gogo/protobuf/gogoproto/gogo.proto"

# The gogoproto extensions Kubernetes' generated files set, as gogo.proto
# declares them: (options message, name, number, is_string).
GOGO_OPTIONS = [
    ("FileOptions", "goproto_getters_all", 63001, False),
    ("FileOptions", "goproto_enum_prefix_all", 63002, False),
    ("FileOptions", "goproto_stringer_all", 63003, False),
    ("FileOptions", "stringer_all", 63008, False),
    ("FileOptions", "marshaler_all", 63017, False),
    ("FileOptions", "unmarshaler_all", 63018, False),
    ("FileOptions", "stable_marshaler_all", 63019, False),
    ("FileOptions", "sizer_all", 63020, False),
    ("FileOptions", "goproto_unrecognized_all", 63026, False),
    ("MessageOptions", "goproto_stringer", 64003, False),
    ("MessageOptions", "marshaler", 64017, False),
    ("MessageOptions", "unmarshaler", 64018, False),
    ("MessageOptions", "sizer", 64020, False),
    ("MessageOptions", "stringer", 67008, False),
    ("FieldOptions", "nullable", 65001, False),
    ("FieldOptions", "embed", 65002, False),
    ("FieldOptions", "customname", 65004, True),
    ("FieldOptions", "casttype", 65007, True),
    ("FieldOptions", "castkey", 65008, True),
    ("FieldOptions", "castvalue", 65009, True),
]


# ---- the protobuf wire format, just enough to read and write descriptors ----

def read_varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def records(data, pos=0, end=None):
    """Yields (field number, wire type, value, end offset) for each record."""
    end = len(data) if end is None else end
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value, pos


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number, value):
    """A record: an int as a varint, bytes or str as length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def strings(proto, number):
    return [v.decode() for n, w, v, _ in records(proto) if n == number and w == 2]


# ---- finding the descriptors in the binary ----

def gzipped_files(binary):
    """Every gzip stream in the binary that holds a FileDescriptorProto."""
    files = {}
    at = binary.find(GZIP_HEADER)
    while at >= 0:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            # Descriptors are small; the window only bounds the work per hit.
            proto = stream.decompress(binary[at:at + (4 << 20)])
            complete = stream.eof
        except zlib.error:
            complete = False
        if complete and proto[:1] == b"\x0a":
            try:
                name = strings(proto, 1)[0]
            except (IndexError, ValueError, UnicodeDecodeError):
                name = ""
            if name.endswith(".proto"):
                files[name] = proto
        at = binary.find(GZIP_HEADER, at + 1)
    return files


def raw_descriptor_proto(binary):
    """descriptor.proto, which protobuf-go embeds uncompressed.

    The bytes carry no length of their own (Go keeps it in the string
    header), so read records while they are FileDescriptorProto fields in
    ascending order, as protoc writes them; the constant is followed by
    zero padding or unrelated data, which ends the walk.
    """
    start = binary.find(field(1, DESCRIPTOR_PROTO))
    if start < 0:
        sys.exit(f"{DESCRIPTOR_PROTO} is not in the binary")
    end, last = start, 0
    try:
        for number, _, _, after in records(binary, start):
            if not last <= number <= 14:
                break
            end, last = after, number
    except (ValueError, IndexError):
        pass
    proto = binary[start:end]
    if strings(proto, 2) != ["google.protobuf"] or b"FieldOptions" not in proto:
        sys.exit(f"could not delimit {DESCRIPTOR_PROTO} in the binary")
    return proto


def gogo_stub():
    """gogo.proto, holding only the extension declarations Kubernetes uses."""
    proto = field(1, GOGO_PROTO) + field(2, "gogoproto") + field(3, DESCRIPTOR_PROTO)
    for extendee, name, number, is_string in GOGO_OPTIONS:
        declaration = (
            field(1, name)
            + field(2, ".google.protobuf." + extendee)
            + field(3, number)
            + field(4, 1)  # LABEL_OPTIONAL
            + field(5, 9 if is_string else 8)  # TYPE_STRING, TYPE_BOOL
            + field(10, re.sub(r"_(.)", lambda m: m.group(1).upper(), name))
        )
        proto += field(7, declaration)
    return proto


def options_used(proto, found):
    """Collects the extension numbers (>= 1000) set in any options message."""
    def walk_message(message):
        for n, w, v, _ in records(message):
            if n == 2:  # field
                for fn, _, fv, _ in records(v):
                    if fn == 8:
                        found.update(on for on, _, _, _ in records(fv) if on >= 1000)
            elif n == 3:  # nested message
                walk_message(v)
            elif n == 7:  # message options
                found.update(on for on, _, _, _ in records(v) if on >= 1000)

    for n, _, v, _ in records(proto):
        if n == 4:
            walk_message(v)
        elif n == 8:
            found.update(on for on, _, _, _ in records(v) if on >= 1000)


def select(files):
    """The GA API files and, transitively, everything they import."""
    wanted, todo = set(), sorted(name for name in files if GA_API.fullmatch(name))
    while todo:
        name = todo.pop()
        if name in wanted or name == GOGO_PROTO:
            continue
        if name not in files:
            sys.exit(f"{name} is imported but not in the binary")
        wanted.add(name)
        todo.extend(strings(files[name], 3))
    return wanted


def in_dependency_order(files):
    """Names sorted so each file comes after the files it imports."""
    done, order = set(), []

    def visit(name):
        if name not in done:
            done.add(name)
            for dependency in sorted(strings(files[name], 3)):
                visit(dependency)
            order.append(name)

    for name in sorted(files):
        visit(name)
    return order


# A struct field as Go's reflection data keeps it: the Go name, the tag's
# length (one or two bytes), then the tag: json:"..." and, after any other
# keys, protobuf:"<wire>,<number>,<label>[,...][,name=<protobuf name>][,...]".
STRUCT_TAG = re.compile(
    rb'([A-Za-z0-9_]+)(?s:.{1,2})json:"([^",]*)[^"]*"(?: [a-zA-Z]+:"[^"]*")* '
    rb'protobuf:"[a-z0-9]+,([0-9]+),[a-z]+(?:,(?!name=)[a-z]+)*(?:,name=([A-Za-z0-9_]+))?'
)


def fields_by_number_and_name(files):
    """(number, protobuf name) -> full names of the fields that have them."""
    found = {}

    def walk_message(message, scope):
        name = strings(message, 1)[0]
        full = f"{scope}.{name}"
        for n, _, v, _ in records(message):
            if n == 2:
                field_name = strings(v, 1)[0]
                number = [fv for fn, fw, fv, _ in records(v) if fn == 3 and fw == 0][0]
                found.setdefault((number, field_name), []).append(f"{full}.{field_name}")
            elif n == 3:
                walk_message(v, full)

    for name, proto in files.items():
        if name.startswith("k8s.io/"):
            package = strings(proto, 2)[0]
            for n, _, v, _ in records(proto):
                if n == 4:
                    walk_message(v, package)
    return found


def struct_tag_report(binary, files):
    """Fields whose struct tag says inline, or a JSON name of their own."""
    fields = fields_by_number_and_name(files)
    facts = {}
    for match in STRUCT_TAG.finditer(binary):
        go_name, json_name, number, name = (
            (group or b"").decode() for group in match.groups()
        )
        # Without name=, go-to-protobuf names the field after the JSON
        # name, or else the Go name with its first letter lowered.
        name = name or json_name or go_name[:1].lower() + go_name[1:]
        key = (int(number), name)
        if json_name not in (name, "-") and key in fields:
            facts.setdefault(key, set()).add(json_name)
    lines = []
    for key in sorted(facts, key=lambda k: (k[1].lower(), k[0])):
        said = " or ".join(
            "inline" if j == "" else f'JSON "{j}"' for j in sorted(facts[key])
        )
        for path in sorted(fields[key]):
            lines.append(f"  {path}: {said}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kubectl", nargs="?", default=DEFAULT_KUBECTL)
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    binary = Path(args.kubectl).read_bytes()
    embedded = gzipped_files(binary)
    chosen = {name: embedded[name] for name in select(embedded)}

    used = set()
    for proto in chosen.values():
        options_used(proto, used)
    undeclared = used - {number for _, _, number, _ in GOGO_OPTIONS}
    if undeclared:
        sys.exit(f"options {sorted(undeclared)} are used but not in GOGO_OPTIONS: add them")

    chosen[DESCRIPTOR_PROTO] = raw_descriptor_proto(binary)
    chosen[GOGO_PROTO] = gogo_stub()
    out = b"".join(field(1, chosen[name]) for name in in_dependency_order(chosen))
    args.out.write_bytes(out)

    for name in in_dependency_order(chosen):
        print(f"{len(chosen[name]):7}  {name}")
    print(f"{len(out):7}  {args.out} (sha256 {hashlib.sha256(out).hexdigest()[:16]})")
    print("\nWhat kubectl's struct tags say, for INLINE and JSON_NAMES in schema.rs")
    print("(a field named like a tagged one is listed too; check it in the Go source):")
    print("\n".join(struct_tag_report(binary, chosen)))


if __name__ == "__main__":
    main()
