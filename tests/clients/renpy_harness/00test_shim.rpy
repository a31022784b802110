## TEST GAME ONLY, never in what authors drop into their games: Debian's renpy 8.0.3 under Python 3.11
## crashes compiling its own screens ("AST node line range (...) is not valid", renpy/sl2/slast.py
## compile_expr). This rebuilds that function so every AST node has a valid end position. Ren'Py 8.1+
## does not need it.
python early:
    import ast as _shim_ast
    import renpy.sl2.slast as _shim_slast

    def _shim_compile_expr(loc, node):
        filename = loc[0]
        if filename in renpy.python.py3_files:
            flags = renpy.python.py3_compile_flags
        else:
            flags = renpy.python.new_compile_flags
        expr = _shim_ast.Expression(body=node)
        _shim_ast.fix_missing_locations(expr)
        for each in _shim_ast.walk(expr):
            if "lineno" in each._attributes:
                each.end_lineno = each.lineno
                each.end_col_offset = each.col_offset
        return compile(expr, filename, "eval", flags, 1)

    _shim_slast.compile_expr = _shim_compile_expr
