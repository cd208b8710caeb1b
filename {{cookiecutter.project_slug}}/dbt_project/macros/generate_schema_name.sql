{#-
  Custom schemas are used as given (staging, not analytics_staging), so every environment has
  production's layout. In a personal Snowflake sandbox everything goes to the developer's own
  schema instead, so developers sharing the SANDBOX database never collide.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if target.name == 'personal' or custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
