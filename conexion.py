"""The connection db.py's pool opens: mysql-connector's C extension with a leaner row loop."""

from _mysql_connector import MySQLInterfaceError
from mysql.connector import errors
from mysql.connector.connection_cext import CMySQLConnection
from mysql.connector.constants import FieldType


class Conexion(CMySQLConnection):
    """mysql-connector's C-extension connection with a lean loop for whole result sets.

    9.7.0's get_rows() walks every cell of every row in Python to find VECTOR columns, even
    when the result has none (bench/ measures what that costs); tests/test_conexion.py pins
    the private members used here. When none of the columns is a VECTOR (and no converter
    class, raw mode or partial fetch is asked for), the rows the C extension has already
    converted are taken as they come; anything else goes to the driver's own code.
    """

    def get_rows(self, count=None, binary=False, columns=None, raw=None, prep_stmt=None,
                 **kwargs):
        if (count is not None or prep_stmt is not None or raw or self._raw or self.converter
                or not self.unread_result
                or any(c[1] == FieldType.VECTOR for c in self._columns or ())):
            return super().get_rows(count, binary, columns, raw, prep_stmt, **kwargs)
        fetch_row = self._cmysql.fetch_row
        rows = []
        try:
            row = fetch_row()
            while row:
                rows.append(row)
                row = fetch_row()
            # fetch_eof_columns()["eof"] without rebuilding the column list it also returns:
            # the cursor has it already.
            eof = {"status_flag": self._server_status,
                   "warning_count": self._cmysql.st_warning_count()}
        except MySQLInterfaceError as err:
            self.free_result()
            if hasattr(err, "errno"):
                raise errors.get_mysql_exception(err.errno, msg=err.msg,
                                                 sqlstate=err.sqlstate) from err
            raise errors.InterfaceError(str(err)) from err
        self.free_result()
        return rows, eof
