# Argument handling shared by the benchmark scripts. Source it after `cd` to the repository, before
# the arguments are read.

# A usage error: the message on stderr, exit 64 (EX_USAGE).
usage_error() { echo "$(basename "$0"): $*" >&2; exit 64; }

# The script's own help: its comment block from the second line to `set -euo`.
print_help() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

# A usage error unless every VALUE is a whole number of at least 1.
#   positive_numbers "WHAT" VALUE...
positive_numbers() {
    local what=$1 value
    shift
    for value in "$@"; do
        [[ $value =~ ^[0-9]+$ && $value -ge 1 ]] || usage_error "$what take positive numbers"
    done
}
