# Argument handling shared by the benchmark scripts. Source it after `cd` to the repository, before
# the arguments are read.

# Where the scale benchmarks keep enrolled agents between runs: every script's --cache default.
enrollment_cache=${XDG_CACHE_HOME:-$HOME/.cache}/jump-loadgen/scale

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

# A usage error unless every VALUE is a whole number (0 included).
#   whole_numbers "WHAT" VALUE...
whole_numbers() {
    local what=$1 value
    shift
    for value in "$@"; do
        [[ $value =~ ^[0-9]+$ ]] || usage_error "$what take whole numbers"
    done
}

# Reads the command line by a table of the script's options, left to right; -h and --help print the
# script's help. Each SPEC is one of:
#   --option=NAME      the option takes a value, stored in the variable NAME
#   --option=NAME[]    the option takes a value, appended to the array NAME (the option may repeat)
#   --option:NAME=TEXT the option takes none and sets NAME to TEXT; an option may have several
# An option that is not in the table, or one missing its value, is a usage error.
#   parse_options SPEC... -- "$@"
parse_options() {
    local -a specs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do specs+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    local argument spec name matched
    while [ $# -gt 0 ]; do
        argument=$1
        shift
        case $argument in -h | --help) print_help; exit 0 ;; esac
        matched=0
        for spec in "${specs[@]}"; do
            case $spec in
                "$argument:"*)
                    name=${spec#*:}
                    printf -v "${name%%=*}" '%s' "${name#*=}"
                    matched=1
                    ;;
                "$argument="*)
                    [ $# -gt 0 ] || usage_error "$argument needs a value (see --help)"
                    name=${spec#*=}
                    if [[ $name == *'[]' ]]; then
                        local -n parse_options_array=${name%'[]'}
                        parse_options_array+=("$1")
                    else
                        printf -v "$name" '%s' "$1"
                    fi
                    shift
                    matched=1
                    break
                    ;;
            esac
        done
        [ "$matched" = 1 ] || usage_error "unknown argument $argument (see --help)"
    done
}
