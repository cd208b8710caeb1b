{#-
  A predicate limiting development and branch runs to the last `dev_window_days` days.
  Production, and any run with `--vars '{ignore_date_limits: true}'`, sees everything.
-#}
{% macro dev_window(column) -%}
    {%- if target.name == 'prod' or var('ignore_date_limits', false) -%}
        true
    {%- else -%}
        cast({{ column }} as timestamp)
            >= cast({{ dbt.dateadd('day', -1 * (var('dev_window_days') | int), dbt.current_timestamp()) }} as timestamp)
    {%- endif -%}
{%- endmacro %}
