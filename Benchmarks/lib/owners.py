"""Who a function belongs to, from its symbol (Swift names mangled, as perf and heaptrack print them)
and, when known, the file it was loaded from. Shared by heap.sh and cpu-profile.sh."""
import re

# The appliance's own modules. A mangled Swift name starts with the module of the function it names
# ($s<length><module>...), also when it is a specialization for other modules' types.
APPLIANCE_MODULES = {"JumpServerCore", "JumpProtocol", "JumpTLS", "JumpStore", "JumpPolicy", "JumpSessionCore", "JumpAPI", "jump_server"}
SWIFT_MODULES = {"SwiftProtobuf": "SwiftProtobuf", "NIOSSL": "NIOSSL", "NIOCore": "NIO", "NIOPosix": "NIO",
                 "GRDB": "SQLite (GRDB)", "FoundationEssentials": "Foundation", "Foundation": "Foundation"}
# BoringSSL's assembly routines (elliptic curves, ML-KEM, hashes, AES-GCM) carry no prefix of their
# own and keep no frame pointer: a sample in one has no call stack above it.
BORINGSSL_ASSEMBLY = re.compile(r"nistz256|beeu_mod_inverse|x25519|fiat_|mlkem|keccak|sha(1|256|512)_block|aes_hw|aesni|gcm_|ghash|bn_(mul|sqr)")
ALLOCATION = re.compile(
    r"swift_(retain|release|allocObject|deallocObject|deallocClassInstance|slowAlloc|slowDealloc|bridgeObject"
    r"|unknownObject|isUniquely|beginAccess|endAccess)"
    r"|^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|malloc_consolidate|unlink_chunk|__libc_malloc"
    r"|__libc_free|__GI___libc_malloc|__GI___libc_free|tcache)")
# The standard library's own symbols: $s followed by a substitution, not a module's length.
STANDARD_LIBRARY = re.compile(r"^\$s[^0-9]")


def swift_module(symbol):
    """The module a mangled Swift name belongs to, or None (C, C++, or the standard library's substitutions)."""
    match = re.match(r"\$s(\d+)", symbol)
    if not match: return None
    start = match.end()
    return symbol[start:start + int(match.group(1))]


def owner(symbol, dso=""):
    if dso.startswith("[kernel"): return "the kernel"
    if "CNIOBoringSSL" in symbol or "bssl::" in symbol or BORINGSSL_ASSEMBLY.search(symbol): return "BoringSSL"
    if ALLOCATION.search(symbol): return "allocation, reference counting, exclusivity checks"
    module = swift_module(symbol)
    if module in APPLIANCE_MODULES: return "the appliance"
    if module in SWIFT_MODULES: return SWIFT_MODULES[module]
    if "sqlite3" in symbol: return "SQLite (GRDB)"
    if "libswiftCore" in dso or STANDARD_LIBRARY.search(symbol) or symbol.startswith("swift_"):
        return "the Swift standard library and runtime"
    if "Foundation" in dso: return "Foundation"
    if "libdispatch" in dso or "swift_Concurrency" in dso: return "Dispatch and Swift concurrency"
    if "NIOPosix" in dso: return "NIO"
    if "libc.so" in dso: return "libc"
    return "other"
