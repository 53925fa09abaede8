// One servlet mapped to /* that echoes how Tomcat resolved the request path.
// Used by scripts/tomcat-diff.sh: authgate forwards a path, Tomcat resolves it, and the
// script checks both agree.
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

public class EchoServlet extends HttpServlet {
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setStatus(200);
        resp.setContentType("text/plain;charset=UTF-8");
        String pathInfo = req.getPathInfo();
        resp.getWriter().print(
            "servletPath=" + req.getServletPath() + "\n"
            + "pathInfo=" + (pathInfo == null ? "" : pathInfo) + "\n"
            + "requestURI=" + req.getRequestURI() + "\n"
            + "contextPath=" + req.getContextPath() + "\n");
    }
}
