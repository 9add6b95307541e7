import { Kind, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Whether `schema` alone defines everything `document` asks for: every field
 * (with its arguments) on its parent type, every fragment's type, every
 * variable's type and every directive. Introspection (`__schema`, `__type`)
 * is never answered by it: it must describe the unified schema.
 */
export function answerableBy(schema: GraphQLSchema, document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let answerable = true;
  const refuse = () => {
    answerable = false;
    return false as const;
  };
  const named = (node: { kind: Kind; type?: unknown; name?: { value: string } }): string | null => {
    let type = node as { kind: Kind; type?: unknown; name?: { value: string } };
    while (type.kind !== Kind.NAMED_TYPE) type = type.type as typeof type;
    return type.name?.value ?? null;
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (node.name.value === '__typename') return undefined;
        if (node.name.value.startsWith('__') || !typeInfo.getFieldDef()) return refuse();
        return undefined;
      },
      Argument() {
        return typeInfo.getArgument() ? undefined : refuse();
      },
      Directive(node) {
        return schema.getDirective(node.name.value) ? undefined : refuse();
      },
      InlineFragment(node) {
        return !node.typeCondition || schema.getType(node.typeCondition.name.value) ? undefined : refuse();
      },
      FragmentDefinition(node) {
        return schema.getType(node.typeCondition.name.value) ? undefined : refuse();
      },
      VariableDefinition(node) {
        const name = named(node.type);
        return name && schema.getType(name) ? undefined : refuse();
      },
    }),
  );
  return answerable;
}

/**
 * Runs an operation that touches nothing a provider's subschema added on the
 * contract's own schema (`base`), not on the unified one: the unified schema
 * answers base fields by delegating them to `base` (@graphql-tools/stitch), so
 * the result is the same, without a second planning and execution of the
 * whole operation. Providers may only add types and fields of their own
 * (subschema-check.ts), never change one of the contract's, so an operation
 * that `base` defines throughout means the same in both; its
 * validation with it then is what the delegation to it did before.
 * @param base - the schema every provider subschema is stitched onto.
 */
export function useBaseSchema(base: GraphQLSchema): Plugin {
  // Yoga's parse cache hands the same document back for the same query text.
  const verdicts = new WeakMap<DocumentNode, boolean>();
  const answerable = (document: DocumentNode) => {
    let verdict = verdicts.get(document);
    if (verdict === undefined) verdicts.set(document, (verdict = answerableBy(base, document)));
    return verdict;
  };
  return {
    // Validated on it too, as the delegation to it did: its scalars' own refusals are the ones the caller reads.
    onValidate({ params, validateFn, setValidationFn }) {
      if (params.schema !== base && answerable(params.documentAST))
        setValidationFn((_schema, document, ...rest) => validateFn(base, document, ...rest));
    },
    onExecute({ args, executeFn, setExecuteFn }) {
      if (args.schema !== base && answerable(args.document)) setExecuteFn((executeArgs) => executeFn({ ...executeArgs, schema: base }));
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      if (args.schema !== base && answerable(args.document)) setSubscribeFn((subscribeArgs) => subscribeFn({ ...subscribeArgs, schema: base }));
    },
  };
}
