"""Adapters that turn other libraries' attribution classes into attrbench Methods."""
