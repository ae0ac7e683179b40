"""Throwaway servers for restore drills, and seeded stand-ins for production."""
