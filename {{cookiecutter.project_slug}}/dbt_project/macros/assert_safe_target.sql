{#-
  Defence in depth: whatever the environment variables say, only the prod target may write to
  the production database. Runs first in every dbt invocation (on-run-start).
-#}
{% macro assert_safe_target() -%}
    {%- if execute and target.type == 'snowflake' and target.name != 'prod'
          and (target.database | upper) == (var('production_database') | upper) -%}
        {{ exceptions.raise_compiler_error(
            "Refusing to run target '" ~ target.name ~ "' against the production database "
            ~ target.database ~ "; only the prod target may write there.") }}
    {%- endif -%}
{%- endmacro %}
