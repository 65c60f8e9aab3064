// Static export: nginx serves web/out on :3000 and proxies /api/ (the read model),
// /api/<service>/ (another service, prefix stripped) and /ws, so the browser only ever talks
// to one origin and no page path (/orders/, /notifications/, ...) is ever proxied.
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  eslint: { ignoreDuringBuilds: true },
};
export default nextConfig;
