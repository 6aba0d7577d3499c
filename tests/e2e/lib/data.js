// Test data shared by several test files.

/** n rows of the shape POST /debug/echo takes. */
export function makeRows(n) {
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    name: `row-${i}`,
    value: i * 1.5,
    active: i % 2 === 0,
    tags: ['t', `tag${i % 7}`],
    created_at: new Date(Date.UTC(2024, 0, 1, 0, 0, i % 60)).toISOString(),
  }));
}
