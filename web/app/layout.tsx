import type { Metadata } from "next";
import Nav from "@/components/Nav";
import "./globals.css";

export const metadata: Metadata = {
  title: "Eventify Commerce",
  description: "An event-driven shop: watch every order go through the saga live.",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a href="#main" className="skip">
          Skip to content
        </a>
        <Nav />
        <main id="main">{children}</main>
        <footer>
          Events over Apache Kafka, state in PostgreSQL, services in C. This page reads the CQRS read
          model only.
        </footer>
      </body>
    </html>
  );
}
