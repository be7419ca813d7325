/** Text imports of schema files (Bun `with { type: "text" }`). */
declare module "*.proto" {
  const text: string;
  export default text;
}
