{#-
  Custom schemas are used as given (staging, not analytics_staging), so every environment has
  production's layout. In a personal Snowflake sandbox everything goes to the developer's own
  schema instead, so developers sharing the SANDBOX database never collide.

  With blue/green publishing (var blue_green_publishing), models in the folders listed in
  var blue_green_folders build into "<schema>_blue"; the on-run-end hook promotes them to
  "<schema>" (green) only when the whole run passed (macros/blue_green/).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if target.name == 'personal' or custom_schema_name is none -%}
        {%- set schema = target.schema | trim -%}
    {%- else -%}
        {%- set schema = custom_schema_name | trim -%}
    {%- endif -%}
    {%- set published = var('blue_green_publishing', false) and target.name != 'personal'
          and node.resource_type == 'model' and (node.fqn | length) > 2
          and node.fqn[1] in var('blue_green_folders', []) -%}
    {{ schema ~ '_blue' if published else schema }}
{%- endmacro %}
