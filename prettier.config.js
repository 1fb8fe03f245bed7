// Prettier's defaults (double quotes, semicolons, trailing commas), except the line width: this
// codebase's one-line log calls and table-like literals read better at 160 than wrapped at 80.
export default { printWidth: 160 };
