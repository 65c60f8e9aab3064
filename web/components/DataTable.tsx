// The one table markup every list in the UI uses: a horizontally scrolling wrapper, a header
// row of column titles (scope="col" for screen readers), and the caller's rows as the body.
import type { ReactNode } from "react";

export default function DataTable({ columns, children }: { columns: ReactNode[]; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            {columns.map((title, i) => (
              <th scope="col" key={i}>
                {title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
