// Tables looked up by a name the user typed: only the table's own entries count, so names such as
// "constructor", "toString" or "__proto__" are unknown names, not Object.prototype's members.
export function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
