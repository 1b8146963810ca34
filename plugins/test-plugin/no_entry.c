/* no_entry.c - a shared object without bs_plugin_entry: not a plugin. */
int brainstage_test_not_a_plugin(void);
int brainstage_test_not_a_plugin(void)
{
    return 42;
}
