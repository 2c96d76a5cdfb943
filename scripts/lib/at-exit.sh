# Sourced first by the scripts that start throwaway services: each
# registers how to stop its own with `rulehost_at_exit FUNCTION`, and all of
# them run when the script exits, the last registered first.

rulehost_exit_functions=()
rulehost_at_exit() {
    rulehost_exit_functions=("$1" "${rulehost_exit_functions[@]}")
}
rulehost_run_exit_functions() {
    for f in "${rulehost_exit_functions[@]}"; do
        "$f"
    done
}
trap rulehost_run_exit_functions EXIT
