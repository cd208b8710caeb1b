{#-
  The window of the Dagster partition (or range of them) a run processes, as SQL timestamps
  ('2025-03-04 00:00:00'); empty outside such a run (a plain `dbt build`).

  The run sets them in dbt's environment (defs/dbt/partitioned.py), so a new window makes dbt
  re-parse only the files that read them: dbt's partial parsing survives every partition of a
  backfill, where `--vars` would re-parse the whole project each time.
-#}
{% macro partition_start() -%}
    {{- env_var('DAGSTER_PARTITION_START', '') -}}
{%- endmacro %}

{% macro partition_end() -%}
    {{- env_var('DAGSTER_PARTITION_END', '') -}}
{%- endmacro %}
